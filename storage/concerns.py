"""Concerns residents raise: filing (idempotent per draft), "me too", status and history."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import aiosqlite

from storage.db import Database

STATUSES = ("received", "reviewed", "priority", "action", "closed")


@dataclass(frozen=True)
class Concern:
    id: int
    ref: str
    ward_code: str
    category: str
    text: str
    lat: float | None
    lon: float | None
    photo_file_id: str | None
    raised_by: int | None
    status: str
    created_at: str
    supporters: int = 0


@dataclass(frozen=True)
class ConcernEvent:
    kind: str  # "status" or "response"
    from_status: str | None
    to_status: str | None
    text: str | None
    changed_by: str
    changed_at: str


class DailyLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"daily limit {limit} reached")
        self.limit = limit


class StatusChangeRefused(Exception):
    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"{current} -> {wanted}")
        self.current = current
        self.wanted = wanted


_COLUMNS = (
    "c.id, c.ref, c.ward_code, c.category, c.text, c.lat, c.lon, c.photo_file_id, c.raised_by,"
    " c.status, c.created_at,"
    " (SELECT count(*) FROM concern_supporters s WHERE s.concern_id = c.id) AS supporters"
)


def _concern(row: sqlite3.Row) -> Concern:
    return Concern(*(row[i] for i in range(12)))


async def _one(
    conn: aiosqlite.Connection, where: str, params: tuple[object, ...]
) -> Concern | None:
    # execute_fetchall: one trip to aiosqlite's thread (execute then fetchone take two).
    rows = await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM concerns c WHERE {where}", params)
    return _concern(rows[0]) if rows else None


async def file(
    db: Database,
    *,
    draft_key: str,
    user_id: int,
    ward_code: str,
    category: str,
    text: str,
    lat: float | None,
    lon: float | None,
    photo_file_id: str | None,
    now: str,
    day_ago: str,
    daily_limit: int,
    make_ref: Callable[[], str],
) -> tuple[Concern, bool]:
    """File a concern from a draft, once: the same draft filed again returns the first one.

    The daily limit, the insert, its first history event and the draft's removal are one
    transaction, so a double tap or a duplicate update can never file twice.
    """
    async with db.transaction() as conn:
        existing = await _one(conn, "c.draft_key = ?", (draft_key,))
        if existing is not None:
            return existing, False
        counted = await conn.execute_fetchall(
            "SELECT count(*) FROM concerns WHERE raised_by = ? AND created_at > ?",
            (user_id, day_ago),
        )
        if counted[0][0] >= daily_limit:
            raise DailyLimitReached(daily_limit)
        for _attempt in range(20):
            try:
                cursor = await conn.execute(
                    "INSERT INTO concerns (ref, ward_code, category, text, lat, lon, photo_file_id,"
                    " raised_by, draft_key, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        make_ref(),
                        ward_code,
                        category,
                        text,
                        lat,
                        lon,
                        photo_file_id,
                        user_id,
                        draft_key,
                        now,
                        now,
                    ),
                )
                break
            except sqlite3.IntegrityError as err:
                if "concerns.ref" not in str(err):
                    raise
        else:  # pragma: no cover - 20 collisions in a space of millions
            raise RuntimeError("could not find a free concern reference")
        concern_id = int(cursor.lastrowid or 0)
        await conn.execute(
            "INSERT INTO concern_events (concern_id, kind, from_status, to_status, changed_by,"
            " changed_at) VALUES (?, 'status', NULL, 'received', 'resident', ?)",
            (concern_id, now),
        )
        await conn.execute("DELETE FROM concern_drafts WHERE user_id = ?", (user_id,))
        concern = await _one(conn, "c.id = ?", (concern_id,))
    assert concern is not None
    return concern, True


async def add_supporter(db: Database, concern_id: int, user_id: int, now: str) -> bool:
    """Add a "me too"; False when this resident already supports (or raised) it."""
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT raised_by FROM concerns WHERE id = ?", (concern_id,))
        row = await cursor.fetchone()
        await conn.execute("DELETE FROM concern_drafts WHERE user_id = ?", (user_id,))
        if row is None or row[0] == user_id:
            return False
        cursor = await conn.execute(
            "INSERT INTO concern_supporters (concern_id, user_id, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (concern_id, user_id, now),
        )
        return cursor.rowcount == 1


async def count_since(db: Database, user_id: int, since: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM concerns WHERE raised_by = ? AND created_at > ?", (user_id, since)
        )
    )


async def by_ref(db: Database, ref: str) -> Concern | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM concerns c WHERE c.ref = ?", (ref,))
    return None if row is None else _concern(row)


async def by_draft_key(db: Database, draft_key: str) -> Concern | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM concerns c WHERE c.draft_key = ?", (draft_key,)
    )
    return None if row is None else _concern(row)


async def by_id(db: Database, concern_id: int) -> Concern | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM concerns c WHERE c.id = ?", (concern_id,))
    return None if row is None else _concern(row)


_MINE = (
    "(c.raised_by = ? OR EXISTS (SELECT 1 FROM concern_supporters s"
    " WHERE s.concern_id = c.id AND s.user_id = ?))"
)
# The same set as ids, each half through its own index (concerns_raised_by,
# concern_supporters_user). `_MINE` in a WHERE over many rows is an OR SQLite cannot
# answer from an index: it scans every concern (about 60 ms at 200,000).
_MY_IDS = (
    "SELECT id FROM concerns WHERE raised_by = ?"
    " UNION SELECT concern_id FROM concern_supporters WHERE user_id = ?"
)


async def for_resident(
    db: Database, user_id: int, limit: int, offset: int
) -> tuple[list[Concern], int]:
    """Concerns the resident raised or supports, newest first, and how many there are."""
    total = int(await db.fetchval(f"SELECT count(*) FROM ({_MY_IDS})", (user_id, user_id)))
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM concerns c WHERE c.id IN ({_MY_IDS})"
        " ORDER BY c.created_at DESC, c.id DESC LIMIT ? OFFSET ?",
        (user_id, user_id, limit, offset),
    )
    return [_concern(r) for r in rows], total


async def is_followed_by(db: Database, concern_id: int, user_id: int) -> bool:
    row = await db.fetchone(
        f"SELECT 1 FROM concerns c WHERE c.id = ? AND {_MINE}", (concern_id, user_id, user_id)
    )
    return row is not None


async def events(db: Database, concern_id: int) -> list[ConcernEvent]:
    rows = await db.fetchall(
        "SELECT kind, from_status, to_status, text, changed_by, changed_at FROM concern_events"
        " WHERE concern_id = ? ORDER BY id",
        (concern_id,),
    )
    return [ConcernEvent(*(r[i] for i in range(6))) for r in rows]


async def open_nearby(
    db: Database,
    category: str,
    *,
    ward_code: str,
    box: tuple[float, float, float, float] | None,
    limit: int,
) -> list[Concern]:
    """Open concerns of a category in a ward, or inside a lat/lon box (south, west, north, east)."""
    if box is None:
        where, params = "c.ward_code = ?", (ward_code,)
    else:
        south, west, north, east = box
        where = "c.lat BETWEEN ? AND ? AND c.lon BETWEEN ? AND ?"
        params = (south, north, west, east)
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM concerns c WHERE c.category = ? AND c.status != 'closed'"
        f" AND {where} ORDER BY c.created_at DESC LIMIT ?",
        (category, *params, limit),
    )
    return [_concern(r) for r in rows]


async def change_status(
    db: Database,
    concern_id: int,
    to_status: str,
    *,
    by: str,
    now: str,
    allowed: Callable[[str, str], bool],
) -> str:
    """Move a concern to `to_status` if `allowed(current, to)`; returns the previous status."""
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT status FROM concerns WHERE id = ?", (concern_id,))
        row = await cursor.fetchone()
        if row is None:
            raise LookupError(concern_id)
        current = row[0]
        if not allowed(current, to_status):
            raise StatusChangeRefused(current, to_status)
        await conn.execute(
            "UPDATE concerns SET status = ?, updated_at = ? WHERE id = ?",
            (to_status, now, concern_id),
        )
        await conn.execute(
            "INSERT INTO concern_events (concern_id, kind, from_status, to_status, changed_by,"
            " changed_at) VALUES (?, 'status', ?, ?, ?, ?)",
            (concern_id, current, to_status, by, now),
        )
    return str(current)


async def add_response(db: Database, concern_id: int, text: str, *, by: str, now: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO concern_events (concern_id, kind, text, changed_by, changed_at)"
            " VALUES (?, 'response', ?, ?, ?)",
            (concern_id, text, by, now),
        )
        await conn.execute("UPDATE concerns SET updated_at = ? WHERE id = ?", (now, concern_id))


@dataclass(frozen=True)
class CategoryCount:
    category: str
    concerns: int  # open, not yet reviewed
    people: int  # their raisers plus everyone who said "me too"
    since: int  # of those, raised since the given moment


async def new_by_category(db: Database, ward_code: str, since: str) -> list[CategoryCount]:
    rows = await db.fetchall(
        "SELECT c.category, count(*),"
        " count(*) + sum((SELECT count(*) FROM concern_supporters s WHERE s.concern_id = c.id)),"
        " sum(c.created_at > ?)"
        " FROM concerns c WHERE c.ward_code = ? AND c.status = 'received'"
        " GROUP BY c.category ORDER BY count(*) DESC, c.category",
        (since, ward_code),
    )
    return [CategoryCount(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


async def for_review(db: Database, ward_code: str, category: str, limit: int) -> list[Concern]:
    """Open concerns of a ward and category, oldest first (first come, first answered)."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM concerns c WHERE c.ward_code = ? AND c.category = ?"
        " AND c.status != 'closed' ORDER BY c.created_at, c.id LIMIT ?",
        (ward_code, category, limit),
    )
    return [_concern(r) for r in rows]


async def followers(db: Database, concern_id: int) -> list[int]:
    """Who hears about a concern: whoever raised it and everyone who said "me too"."""
    rows = await db.fetchall(
        "SELECT raised_by FROM concerns WHERE id = ? AND raised_by IS NOT NULL"
        " UNION SELECT user_id FROM concern_supporters WHERE concern_id = ?",
        (concern_id, concern_id),
    )
    return [int(r[0]) for r in rows]


async def is_hidden(db: Database, concern_id: int) -> bool:
    return bool(
        await db.fetchval("SELECT hidden_at IS NOT NULL FROM concerns WHERE id = ?", (concern_id,))
    )


async def hide(db: Database, concern_id: int, now: str) -> None:
    await db.execute(
        "UPDATE concerns SET hidden_at = ?, updated_at = ? WHERE id = ? AND hidden_at IS NULL",
        (now, now, concern_id),
    )


async def link_priority(db: Database, concern_id: int, priority_id: int, now: str) -> None:
    await db.execute(
        "UPDATE concerns SET priority_id = ?, updated_at = ? WHERE id = ?",
        (priority_id, now, concern_id),
    )


async def template(db: Database, ward_code: str, category: str, status: str) -> str | None:
    return await db.fetchval(
        "SELECT text FROM response_templates WHERE ward_code = ? AND category = ? AND status = ?",
        (ward_code, category, status),
    )


async def set_template(
    db: Database, ward_code: str, category: str, status: str, text: str, *, by: str, now: str
) -> None:
    await db.execute(
        "INSERT INTO response_templates (ward_code, category, status, text, updated_by, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ward_code, category, status)"
        " DO UPDATE SET text = excluded.text, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (ward_code, category, status, text, by, now),
    )
