"""Storage: raters, conversations, turns, responses, ratings and votes (SQLModel + Alembic)."""

from playground.store.database import Database, DatabaseError, database_url

__all__ = ["Database", "DatabaseError", "database_url"]
