"""Copies the app files into the wheel; everything else about the build is in pyproject.toml.

The app files (``chainlit_app.py``, ``.chainlit/``, ``public/``, ``prompts/``, the shipped configs)
must stay at the top of the checkout, where ``chainlit run`` and the tests expect them. A wheel has
no place for top-level folders, so building one copies them into ``playground/_shipped/``, where
``playground.core.locations.app_files()`` looks when the package is installed. An editable install
runs from the checkout and finds them there, so it gets no copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
SHIPPED_PACKAGE_DIR = Path("playground") / "_shipped"
# Glob patterns relative to the checkout. public/screenshots is left out on purpose: it is
# documentation (the README's pictures), hundreds of KB the app never serves.
APP_FILE_PATTERNS = (
    "chainlit_app.py",
    "chainlit.md",
    "playground.yaml",
    "playground.demo.yaml",
    ".chainlit/config.toml",
    "prompts/*.yaml",
    "public/elements/*.jsx",
    "public/*.js",
)


def app_files(root: Path = ROOT) -> list[Path]:
    """The app files as paths relative to ``root``; a pattern that matches nothing is an error,
    so that a renamed file breaks the build rather than shipping a wheel that cannot start."""
    found: list[Path] = []
    for pattern in APP_FILE_PATTERNS:
        matches = sorted(path.relative_to(root) for path in root.glob(pattern) if path.is_file())
        if not matches:
            raise FileNotFoundError(f"setup.py: no app file matches {pattern!r} under {root}")
        found.extend(matches)
    return found


class BuildPyWithAppFiles(build_py):
    """build_py that also puts the app files into ``playground/_shipped/`` of the build."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # the editable package reads them from the checkout
        target = Path(self.build_lib) / SHIPPED_PACKAGE_DIR
        # A build folder left from an earlier build may hold files since removed from the checkout.
        shutil.rmtree(target, ignore_errors=True)
        for relative in app_files():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, destination)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            target = Path(self.build_lib) / SHIPPED_PACKAGE_DIR
            outputs.extend(str(target / relative) for relative in app_files())
        return outputs


class SdistWithAppFiles(sdist):
    """sdist that carries the app files, so that a wheel built from it (as ``python -m build``
    does by default) can ship them too."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        extra = [str(path) for path in app_files() if str(path) not in files]
        super().make_release_tree(base_dir, [*files, *extra])


setup(cmdclass={"build_py": BuildPyWithAppFiles, "sdist": SdistWithAppFiles})
