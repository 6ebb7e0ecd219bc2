"""A ward's priorities, with their history, and the bounds on how many are active."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import aiosqlite

from storage.db import Database


@dataclass(frozen=True)
class Priority:
    id: int
    ward_code: str
    title: str
    category: str
    description: str
    set_at: str
    retired_at: str | None


class PriorityCountError(ValueError):
    """Adding or retiring would leave the ward outside its allowed number of priorities."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} active, limit {limit}")
        self.active = active
        self.limit = limit


class PriorityNotFound(LookupError):
    pass


_COLUMNS = "id, ward_code, title, category, description, set_at, retired_at"


def _priority(row: sqlite3.Row) -> Priority:
    return Priority(*(row[i] for i in range(7)))


async def _active_count(conn: aiosqlite.Connection, ward_code: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) FROM priorities WHERE ward_code = ? AND retired_at IS NULL", (ward_code,)
    )
    return int((await cursor.fetchone())[0])


async def _history(
    conn: aiosqlite.Connection, priority: Priority, change: str, by: str, now: str
) -> None:
    await conn.execute(
        "INSERT INTO priority_history (priority_id, change, title, category, description,"
        " changed_by, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (priority.id, change, priority.title, priority.category, priority.description, by, now),
    )


async def _get(conn: aiosqlite.Connection, priority_id: int) -> Priority:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM priorities WHERE id = ?", (priority_id,))
    row = await cursor.fetchone()
    if row is None:
        raise PriorityNotFound(priority_id)
    return _priority(row)


async def add(
    db: Database,
    ward_code: str,
    title: str,
    category: str,
    description: str,
    *,
    by: str,
    now: str,
    max_active: int,
) -> Priority:
    """Add a priority unless the ward already has `max_active` (checked in the same transaction)."""
    async with db.transaction() as conn:
        active = await _active_count(conn, ward_code)
        if active >= max_active:
            raise PriorityCountError(active, max_active)
        cursor = await conn.execute(
            "INSERT INTO priorities (ward_code, title, category, description, set_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (ward_code, title, category, description, now, now),
        )
        priority = await _get(conn, int(cursor.lastrowid or 0))
        await _history(conn, priority, "added", by, now)
    return priority


async def reword(
    db: Database, priority_id: int, title: str, description: str, *, by: str, now: str
) -> Priority:
    async with db.transaction() as conn:
        current = await _get(conn, priority_id)
        if current.retired_at is not None:
            raise PriorityNotFound(priority_id)
        await conn.execute(
            "UPDATE priorities SET title = ?, description = ?, updated_at = ? WHERE id = ?",
            (title, description, now, priority_id),
        )
        priority = await _get(conn, priority_id)
        await _history(conn, priority, "reworded", by, now)
    return priority


async def retire(db: Database, priority_id: int, *, by: str, now: str, min_active: int) -> Priority:
    """Retire a priority unless that would leave the ward with fewer than `min_active`."""
    async with db.transaction() as conn:
        current = await _get(conn, priority_id)
        if current.retired_at is not None:
            raise PriorityNotFound(priority_id)
        active = await _active_count(conn, current.ward_code)
        if active <= min_active:
            raise PriorityCountError(active, min_active)
        await conn.execute(
            "UPDATE priorities SET retired_at = ?, updated_at = ? WHERE id = ?",
            (now, now, priority_id),
        )
        priority = await _get(conn, priority_id)
        await _history(conn, priority, "retired", by, now)
    return priority


async def get(db: Database, priority_id: int) -> Priority | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM priorities WHERE id = ?", (priority_id,))
    return None if row is None else _priority(row)


async def active_for_ward(db: Database, ward_code: str) -> list[Priority]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM priorities WHERE ward_code = ? AND retired_at IS NULL"
        " ORDER BY set_at, id",
        (ward_code,),
    )
    return [_priority(row) for row in rows]


async def all_for_ward(db: Database, ward_code: str) -> list[Priority]:
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM priorities WHERE ward_code = ? ORDER BY set_at, id", (ward_code,)
    )
    return [_priority(row) for row in rows]


async def history(db: Database, priority_id: int) -> list[tuple[str, str, str, str]]:
    """(change, title, changed_by, changed_at) oldest first."""
    rows = await db.fetchall(
        "SELECT change, title, changed_by, changed_at FROM priority_history"
        " WHERE priority_id = ? ORDER BY id",
        (priority_id,),
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]
