"""Where the playground's files are, whether it runs from a source checkout or an installed wheel.

* The **app files** (``chainlit_app.py``, ``.chainlit/``, ``public/``, ``chainlit.md``, the shipped
  configs and ``prompts/``) sit at the top of a checkout; a built wheel carries copies of them in
  ``playground/_shipped/`` (see ``setup.py``), so an installed playground finds them too.
* The **work folder** holds what the playground writes: the default SQLite database
  (``playground.db``), the demo checkpoints, the app folder Chainlit writes into. It is
  ``PLAYGROUND_HOME`` when set, else the folder the command runs in, never site-packages.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "PLAYGROUND_HOME"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
SHIPPED_DIR = PACKAGE_DIR / "_shipped"
_CHECKOUT = PACKAGE_DIR.parent


def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install), or None when installed."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "chainlit_app.py").is_file():
        return _CHECKOUT
    return None


def app_files() -> Path:
    """The folder with ``chainlit_app.py``, ``.chainlit/``, ``public/``, ``prompts/`` and the configs."""
    return checkout_root() or SHIPPED_DIR


def shipped_prompts_dir() -> Path:
    return app_files() / "prompts"


def work_dir() -> Path:
    """Where the playground writes: ``PLAYGROUND_HOME``, else the current folder."""
    configured = os.environ.get(HOME_ENV)
    return Path(configured).expanduser().resolve() if configured else Path.cwd()


def default_sqlite_path() -> Path:
    return work_dir() / "playground.db"
