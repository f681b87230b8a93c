"""The import-linter contracts in pyproject.toml catch what they are meant to catch.

CI runs ``lint-imports`` on the tree as it is; here imports that break the rules are planted in a
copy of the package, so that a contract weakened by mistake (a stage left out, chainlit allowed
everywhere) shows up as a failing test rather than as a CI step that always passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .paths import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_copy(tmp_path: Path, planted: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts over a copy of playground/ plus ``planted`` files."""
    shutil.copytree(PROJECT_ROOT / "playground", tmp_path / "playground",
                    ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for relative, text in planted.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
        text=True, capture_output=True, cwd=tmp_path, timeout=300,
        # The copy must be the playground that grimp finds, ahead of the editable install.
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
    )


def test_contracts_catch_upward_imports_chainlit_outside_ui_and_unplaced_packages(tmp_path: Path) -> None:
    done = _lint_copy(tmp_path, {
        "playground/core/planted_chainlit.py": "import chainlit\n",
        "playground/store/planted_upward.py": "from playground.ui import flows\n",
        "playground/planted_stage/__init__.py": "",
        "playground/planted_top.py": "from chainlit import Message\n",
    })
    assert done.returncode != 0, done.stdout
    out = done.stdout
    assert "Stages import only downward BROKEN" in out
    assert "playground.store.planted_upward -> playground.ui" in out
    assert "playground.planted_stage" in out  # exhaustive: every subpackage must be a stage
    assert "Only playground.ui imports chainlit BROKEN" in out
    assert "playground.core.planted_chainlit -> chainlit" in out
    assert "playground.planted_top -> chainlit" in out  # a module outside every stage is covered too


def test_cli_may_reach_chainlit_through_ui_only(tmp_path: Path) -> None:
    # Downward through ui is the layers' rule and not a chainlit import of cli's own.
    done = _lint_copy(tmp_path, {"playground/cli/planted_ui.py": "from playground.ui import flows\n"})
    assert "playground.cli.planted_ui" not in done.stdout, done.stdout
    # The same import written straight to chainlit is one.
    direct = _lint_copy(tmp_path / "direct", {"playground/cli/planted_ui.py": "import chainlit\n"})
    assert "playground.cli.planted_ui -> chainlit" in direct.stdout, direct.stdout
