"""The ``playground`` command (Typer): serve, evaluate, export, benchmark."""

from playground.cli.main import app

__all__ = ["app"]
