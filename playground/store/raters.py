"""Rater accounts: names and Argon2 password hashes (argon2-cffi)."""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import select

from playground.store.database import Database
from playground.store.tables import Rater

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
# Accounts are reached over the network: a shorter password falls to guessing, hashed or not.
MIN_PASSWORD_CHARS = 8
_hasher = PasswordHasher()


class RaterError(ValueError):
    pass


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise RaterError(
            f"rater name {name!r}: use 1-100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


async def add_rater(db: Database, name: str, password: str, *, admin: bool = False) -> Rater:
    check_name(name)
    if len(password) < MIN_PASSWORD_CHARS:
        raise RaterError(
            f"password for {name!r} is too short ({len(password)} characters): "
            f"use at least {MIN_PASSWORD_CHARS} characters"
        )
    # Argon2 takes about 0.1 s of CPU on purpose: in a thread, before the transaction, so that
    # neither the event loop nor SQLite's write lock waits on it.
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    async with db.transaction() as session:
        if (await session.exec(select(Rater).where(Rater.name == name))).first():
            raise RaterError(f"a rater named {name!r} already exists")
        rater = Rater(name=name, password_hash=password_hash, is_admin=admin)
        session.add(rater)
    return rater


async def get_rater(db: Database, name: str) -> Rater | None:
    async with db.reading() as session:
        return (await session.exec(select(Rater).where(Rater.name == name))).first()


async def authenticate(db: Database, name: str, password: str) -> Rater | None:
    """The rater if the password matches, else None. Hashing runs off the event loop (Argon2 is
    deliberately slow)."""
    rater = await get_rater(db, name)
    if rater is None:
        # Same work as a real check, so a wrong name cannot be told from a wrong password by time.
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return None
    return rater if await asyncio.to_thread(_verify, rater.password_hash, password) else None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("not a real password")
