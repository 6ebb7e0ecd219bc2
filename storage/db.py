"""The SQLite database: one writer connection behind a lock, one reader connection.

Why this shape (see FIELD-NOTES "SQLite through aiosqlite"): aiosqlite serialises
statements, not transactions, so two tasks sharing a connection can commit each other's
half-done work. Every write therefore runs as one `BEGIN IMMEDIATE` transaction while
holding `_write_lock`; reads go through a second connection and, in WAL mode, never wait
for the writer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.migrations import apply_migrations

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


class StorageError(RuntimeError):
    """The database cannot be used (missing directory, read-only, newer schema...)."""


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Database:
    """Owns the connections; repositories in `storage/` take it as their first argument."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) and migrate the database at `path`."""
        path = Path(path)
        if str(path) != ":memory:" and not path.parent.exists():
            raise StorageError(f"the directory of the database {path} does not exist")
        try:
            writer = await _connect(path)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the database {path}: {err}") from err
        try:
            mode = await (await writer.execute("PRAGMA journal_mode = WAL")).fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                log.warning("SQLite could not switch %s to WAL mode (got %s)", path, mode)
            await writer.execute("PRAGMA synchronous = NORMAL")
            # Erased personal data must not linger in free pages (FIELD-NOTES, erasure).
            await writer.execute("PRAGMA secure_delete = ON")
            await apply_migrations(writer)
            reader = await _connect(path)
        except sqlite3.Error as err:
            await writer.close()
            raise StorageError(f"cannot open the database {path}: {err}") from err
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic write: `BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on any error."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A single write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call into aiosqlite's thread runs the statement to completion. A cursor kept
        # open across awaits would let other tasks' statements overlap it, and while any
        # statement is active SQLite keeps the connection's read snapshot: reads would then
        # miss what the writer has just committed.
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate it (after erasing data)."""
        async with self._write_lock:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def integrity_check(self) -> str:
        return str(await self.fetchval("PRAGMA integrity_check"))


def placeholders(values: Iterable[Any]) -> str:
    """`?, ?, ?` for an IN (...) list."""
    return ", ".join("?" for _ in values)
