"""The checkout the tests run in."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
