"""The SQLite database: one writer connection behind a lock, one reader connection.

Why this shape (see FIELD-NOTES "SQLite through aiosqlite"): aiosqlite serialises
statements, not transactions, so two tasks sharing a connection can commit each other's
half-done work. Every write therefore holds `_write_lock`: several statements run as one
`BEGIN IMMEDIATE` transaction (`transaction()`), a lone statement as the transaction SQLite
makes of it (`write`, `execute`); reads go through a second connection and, in WAL mode,
never wait for the writer. Staff reports that scan a borough's year (`report`) have a
third connection to themselves: aiosqlite runs one statement at a time per connection, so
on the shared reader a resident's one-row read would queue behind a half-second export.

When the disk is full or the database read-only, writes fail and reads still work. Every
write goes through here, so this is where that is noticed: `WriteHealth` logs one clear
ERROR line naming the cause and the file (and a reminder every few minutes while it lasts,
never a traceback per write) and one line when writes work again; `unavailable_cause`
lets the error handler, the outbox dispatcher and the schedules tell such a failure from a
bug, answer residents politely and back off instead of retrying in a tight loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
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


# SQLite's primary result codes that mean "the database cannot be written now", whatever
# the SQL: the disk is full, the file (or its disk) is read-only, or the disk fails. Python
# 3.11 reports the extended code (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE...), whose
# low byte is the primary one.
_CAUSES = {
    sqlite3.SQLITE_FULL: "full",
    sqlite3.SQLITE_READONLY: "read-only",
    sqlite3.SQLITE_IOERR: "failing (disk I/O error)",
}
REMIND_EVERY = 300.0  # seconds between reminders while writes keep failing


def unavailable_cause(error: BaseException | None) -> str | None:
    """ "full", "read-only" or "failing (disk I/O error)" when `error` (or the error it was
    raised from) is SQLite refusing a write because of the disk or the file; None for
    anything else (a bug, a constraint, a busy database...)."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, sqlite3.Error):
            code = getattr(error, "sqlite_errorcode", None)
            if isinstance(code, int) and (code & 0xFF) in _CAUSES:
                return _CAUSES[code & 0xFF]
        error = error.__cause__
        seen += 1
    return None


class WriteHealth:
    """Whether the database takes writes: one ERROR line when it stops (then a reminder
    every REMIND_EVERY seconds while it lasts), one line when it works again.

    The first commit that changes something after a failure ends `wait_recovered`, so
    whoever backs off (the outbox dispatcher) resumes at once, not at the end of its wait.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cause: str | None = None  # None while writes work
        self.refused = 0  # writes refused since `cause` was set
        self._since = 0.0
        self._reminded = 0.0
        self._recovered = asyncio.Event()

    @property
    def ok(self) -> bool:
        return self.cause is None

    def failed(self, cause: str, error: BaseException) -> None:
        now = time.monotonic()
        if self.cause != cause:
            first = self.cause is None
            self.cause, self.refused, self._reminded = cause, 1, now
            if first:
                self._since = now
                self._recovered.clear()
            log.error(
                "database is %s: %s (SQLite: %s); nothing new can be saved until this is "
                "fixed; residents are told to try again later",
                cause,
                self.path,
                error,
            )
            return
        self.refused += 1
        if now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            log.error(
                "database is still %s: %s; %d writes refused in %s",
                cause,
                self.path,
                self.refused,
                _duration(now - self._since),
            )

    def succeeded(self) -> None:
        if self.cause is None:
            return
        log.info(
            "database can be written again: %s (it was %s for %s; %d writes refused)",
            self.path,
            self.cause,
            _duration(time.monotonic() - self._since),
            self.refused,
        )
        self.cause, self.refused = None, 0
        self._recovered.set()

    async def wait_recovered(self, within: float) -> bool:
        """Wait up to `within` seconds for writes to work again; True if they do."""
        if self.cause is None:
            return True
        try:
            async with asyncio.timeout(within):
                await self._recovered.wait()
        except TimeoutError:
            return False
        return True


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _open_failure(path: Path, error: sqlite3.Error) -> StorageError:
    """What an operator needs to hear when the database cannot be opened or migrated."""
    cause = unavailable_cause(error)
    if path.exists() and not os.access(path, os.W_OK):
        return StorageError(
            f"the database {path} is read-only (SQLite: {error}): WardVoice must be able to "
            "write to it; check its owner and permissions, and that its disk is not mounted "
            "read-only"
        )
    if not os.access(path.parent, os.W_OK):
        return StorageError(
            f"the folder of the database {path} is read-only (SQLite: {error}): SQLite "
            f"creates {path.name}-wal and {path.name}-shm beside the database, so WardVoice "
            "must be able to write there"
        )
    if cause == "full":
        return StorageError(
            f"the disk holding the database {path} is full (SQLite: {error}): free some "
            "space, then start WardVoice again"
        )
    if cause is not None:
        return StorageError(f"the database {path} cannot be written (SQLite: {error})")
    return StorageError(f"cannot open the database {path}: {error}")


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Database:
    """Owns the connections; repositories in `storage/` take it as their first argument."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        reports: aiosqlite.Connection,
    ):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._reports = reports
        self._write_lock = asyncio.Lock()
        self.health = WriteHealth(path)

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) and migrate the database at `path`."""
        path = Path(path)
        if str(path) != ":memory:" and not path.parent.exists():
            raise StorageError(f"the directory of the database {path} does not exist")
        try:
            writer = await _connect(path)
        except sqlite3.Error as err:
            raise _open_failure(path, err) from err
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
            raise _open_failure(path, err) from err
        try:
            reports = await _connect(path)
        except sqlite3.Error as err:
            await reader.close()
            await writer.close()
            raise _open_failure(path, err) from err
        if str(path) != ":memory:" and not os.access(path, os.W_OK):
            # SQLite opens a file it may not write read-only and says nothing until the
            # first write: say it now, not at every resident's first tap.
            await reports.close()
            await reader.close()
            await writer.close()
            raise _open_failure(
                path, sqlite3.OperationalError("attempt to write a readonly database")
            )
        return cls(path, writer, reader, reports)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reports.close()
            await self._reader.close()
            await self._writer.close()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        """The write lock, for a transaction or a lone statement; what SQLite says of the
        disk (a refused write, or a write that worked after refusals) goes to `health`."""
        async with self._write_lock:
            changes = self._writer.total_changes
            try:
                yield
            except sqlite3.Error as err:
                self._note(err)
                raise
            if self._writer.total_changes != changes:
                # Only a commit that changed something shows the disk takes writes again
                # (one that changed nothing writes nothing, and works on a full disk too).
                self.health.succeeded()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic write: `BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on any error."""
        async with self._writing():
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                # On a full disk this is where WAL mode fails: the commit appends the pages.
                await self._writer.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def _rollback(self) -> None:
        try:
            await self._writer.execute("ROLLBACK")
        except sqlite3.OperationalError:
            # After some errors (SQLITE_FULL at COMMIT among them) SQLite has rolled the
            # transaction back itself: "no transaction is active" is then the answer, and
            # the error to report is the one that caused it.
            if self._writer.in_transaction:
                raise

    def _note(self, error: sqlite3.Error) -> None:
        cause = unavailable_cause(error)
        if cause is not None:
            self.health.failed(cause, error)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A single write statement, atomic on its own (see `write`); returns the rows
        changed."""
        async with self._writing():
            cursor = await self._writer.execute(sql, params)
            return cursor.rowcount

    async def write(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A single write statement, atomic on its own; returns the rows of its `RETURNING`
        clause (none without one).

        SQLite runs a statement outside `BEGIN` as a transaction of its own, and a write
        statement takes the write lock before it reads anything, so this is as safe as
        `transaction()` around it, in one trip to aiosqlite's thread instead of three
        (`BEGIN IMMEDIATE`, the statement, `COMMIT`): a resident's tap makes a few writes,
        and under load each trip costs the event loop more than SQLite's work does. The
        write lock still keeps it out of any other task's open transaction.
        """
        async with self._writing():
            return list(await self._writer.execute_fetchall(sql, params))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One call into aiosqlite's thread runs the statement to completion. A cursor kept
        # open across awaits would let other tasks' statements overlap it, and while any
        # statement is active SQLite keeps the connection's read snapshot: reads would then
        # miss what the writer has just committed.
        return list(await self._reader.execute_fetchall(sql, params))

    async def report(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A long read for a staff report, on its own connection (see the module's note)."""
        return list(await self._reports.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate it (after erasing data)."""
        async with self._writing():
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def integrity_check(self) -> str:
        return str(await self.fetchval("PRAGMA integrity_check"))


def placeholders(values: Iterable[Any]) -> str:
    """`?, ?, ?` for an IN (...) list."""
    return ", ".join("?" for _ in values)
