"""The playground as installed: what a built wheel carries, and commands that need no UI running
where Chainlit cannot even be imported.

Chainlit reads its settings from the environment when it is imported, and a variable PROJECT that
is not its project settings makes that fail. So any command that imports chainlit, directly or
through some module, dies when PROJECT is set; the commands below must not.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from playground.devtools.synthetic_store import store_battles
from playground.store.database import Database

from .paths import PROJECT_ROOT

CHAINLIT_BREAKER = {"PROJECT": "anything"}


def _clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without the playground's variables (they would pick the files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYGROUND_")}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def _playground(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playground.cli", *args], text=True, capture_output=True, cwd=cwd, env=env,
        timeout=300,
    )


def test_project_variable_breaks_importing_chainlit(tmp_path: Path) -> None:
    # The premise of the next test: if chainlit stops failing on PROJECT, that test proves nothing.
    done = subprocess.run(
        [sys.executable, "-c", "import chainlit"], text=True, capture_output=True, cwd=tmp_path,
        env=_clean_env(**CHAINLIT_BREAKER), timeout=300,
    )
    assert done.returncode != 0 and "project" in done.stderr.lower(), done.stderr[-2000:]


def test_commands_without_ui_run_where_chainlit_cannot_be_imported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'install.db'}"
    env = _clean_env(PLAYGROUND_DATABASE_URL=url, **CHAINLIT_BREAKER)

    sets = _playground("prompt-sets", cwd=tmp_path, env=env)
    assert sets.returncode == 0, sets.stderr[-3000:]
    assert {"quick-20", "instructions-12", "long-context"} <= {line.split(":")[0] for line in sets.stdout.splitlines()}

    upgraded = _playground("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]

    # Battles to report and export, so that the code paths that only run on rows run too.
    async def fill() -> None:
        db = Database(url)
        try:
            await store_battles(db, [("model-x", "model-y", "model_a"), ("model-y", "model-x", "tie")] * 10)
        finally:
            await db.dispose()

    asyncio.run(fill())

    report = _playground("report", "--json", cwd=tmp_path, env=env)
    assert report.returncode == 0 and '"model-x"' in report.stdout, report.stderr[-3000:]

    export = _playground("export", "--format", "csv", cwd=tmp_path, env=env)
    assert export.returncode == 0, export.stderr[-3000:]
    assert len(export.stdout.splitlines()) > 20 and "model-y" in export.stdout  # a header and a row per answer

    check = _playground("check", "The capital is Paris.", "--reference", "paris", cwd=tmp_path, env=env)
    assert (check.returncode, check.stdout.strip()) == (0, "match"), check.stderr[-3000:]


def test_importing_the_cli_does_not_import_chainlit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import playground.cli, sys; print('chainlit' in sys.modules)"],
        text=True, capture_output=True, cwd=tmp_path, env=_clean_env(), timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "False"


# Relative to playground/_shipped/ in the wheel: exactly what setup.py must copy there.
SHIPPED = {
    "chainlit_app.py", "chainlit.md", "playground.yaml", "playground.demo.yaml", ".chainlit/config.toml",
    *(f"prompts/{p.name}" for p in (PROJECT_ROOT / "prompts").glob("*.yaml")),
    *(f"public/elements/{p.name}" for p in (PROJECT_ROOT / "public" / "elements").glob("*.jsx")),
    *(f"public/{p.name}" for p in (PROJECT_ROOT / "public").glob("*.js")),
}
# What the checkout has that a build must not need or take: environments, outputs, caches.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".venv-vllm", ".demo-models", ".files", "build", "dist", "tmp", "tests", "__pycache__",
    "*.db", "*.db-*", ".*_cache", "playground.egg-info", "_shipped", ".playground-app",
)


def test_the_script_chainlit_loads_into_every_page_is_shipped() -> None:
    """.chainlit/config.toml names it by URL; a renamed file would only show as a 404 in a browser."""
    ui = tomllib.loads((PROJECT_ROOT / ".chainlit" / "config.toml").read_text())["UI"]
    url = ui["custom_js"]
    assert url.startswith("/public/")
    relative = url.removeprefix("/")
    assert (PROJECT_ROOT / relative).is_file()
    assert relative in SHIPPED


def test_wheel_carries_the_app_files_and_migrations(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCES)
    # The build environment's packages are this one's: no index needed, and quicker.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        text=True, capture_output=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("playground-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    prefix = "playground/_shipped/"
    assert {n.removeprefix(prefix) for n in names if n.startswith(prefix)} == SHIPPED
    assert len(SHIPPED) >= 10 and "prompts/quick-20.yaml" in SHIPPED  # the globs above found the files
    migrations = {n for n in names if n.startswith("playground/store/migrations/")}
    assert "playground/store/migrations/env.py" in migrations
    assert "playground/store/migrations/script.py.mako" in migrations
    versions = sorted(p.name for p in (PROJECT_ROOT / "playground/store/migrations/versions").glob("*.py"))
    assert versions and all(f"playground/store/migrations/versions/{v}" in migrations for v in versions)
    # The copies go into the build, never into the source tree the build ran in.
    assert not (source / "playground" / "_shipped").exists()
