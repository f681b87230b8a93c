"""What the command modules share: the error console, database checks, benchmark output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from playground.store.database import Database

T = TypeVar("T")

err = Console(stderr=True, soft_wrap=True)  # an error line stays one line, whatever the terminal width


async def check_database(db: Database) -> None:
    """A blank database gets the tables (then it is simply empty); one at another revision is
    refused with what to do, rather than read with the wrong schema."""
    from playground.store.migrate import check_at_head, current_revision, upgrade

    if await current_revision(db) is None:
        await upgrade(db)
    await check_at_head(db)


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's database work; its errors become one red line and exit status 2."""
    from playground.store.database import DatabaseError

    try:
        return asyncio.run(work)
    except (DatabaseError, RuntimeError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def print_figures(result: dict, as_json: bool) -> None:
    """A benchmark's figures: one JSON object, or one line per key for a person."""
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key:>22}: {value}")
