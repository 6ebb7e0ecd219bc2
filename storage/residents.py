"""Residents: who they are to us (a Telegram user id), their language and their ward."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from storage.db import Database


@dataclass(frozen=True)
class Resident:
    user_id: int
    language: str
    ward_code: str | None
    placed_by: str | None
    lat: float | None
    lon: float | None
    finding_ward: bool
    ward_lost: bool
    created_at: str
    updates: str = "off"  # off | instant | weekly
    updates_asked: bool = False
    last_seen_at: str | None = None
    blocked: bool = False  # stopped from raising concerns (moderation)


_COLUMNS = (
    "user_id, language, ward_code, placed_by, lat, lon, finding_ward, ward_lost_at, created_at, "
    "updates, updates_asked_at, last_seen_at, blocked_at"
)


def _resident(row: sqlite3.Row) -> Resident:
    return Resident(
        user_id=row["user_id"],
        language=row["language"],
        ward_code=row["ward_code"],
        placed_by=row["placed_by"],
        lat=row["lat"],
        lon=row["lon"],
        finding_ward=bool(row["finding_ward"]),
        ward_lost=row["ward_lost_at"] is not None,
        created_at=row["created_at"],
        updates=row["updates"],
        updates_asked=row["updates_asked_at"] is not None,
        last_seen_at=row["last_seen_at"],
        blocked=row["blocked_at"] is not None,
    )


async def get(db: Database, user_id: int) -> Resident | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM residents WHERE user_id = ?", (user_id,))
    return None if row is None else _resident(row)


async def get_or_create(db: Database, user_id: int, language: str, now: str) -> Resident:
    """The resident, created at first contact with the language Telegram reported."""
    found = await get(db, user_id)
    if found is not None:
        return found
    rows = await db.write(
        "INSERT INTO residents (user_id, language, created_at, updated_at, last_seen_at) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING RETURNING {_COLUMNS}",
        (user_id, language, now, now, now),
    )
    if rows:
        return _resident(rows[0])
    # Created between the read and the insert by another task or process: that row stands.
    found = await get(db, user_id)
    assert found is not None
    return found


async def _update(db: Database, assignments: str, params: tuple[Any, ...]) -> Resident | None:
    """`UPDATE residents SET <assignments> WHERE user_id = ?` (the user id last in `params`),
    reading the row back in the same statement: the resident as stored now, or None if
    there is no such resident. Callers that already hold the resident keep it current
    without reading it again."""
    rows = await db.write(
        f"UPDATE residents SET {assignments} WHERE user_id = ? RETURNING {_COLUMNS}", params
    )
    row = next(iter(rows), None)
    return None if row is None else _resident(row)


async def set_ward(
    db: Database,
    user_id: int,
    ward_code: str,
    placed_by: str,
    lat: float | None,
    lon: float | None,
    now: str,
) -> Resident | None:
    """Place a resident in a ward; the point they gave (if any) is kept for re-imports."""
    # `ward_since` moves only when the ward does (a vote open to a ward's residents counts
    # those who chose the ward before it opened): SET reads the row's old values.
    return await _update(
        db,
        "ward_since = CASE WHEN ward_code IS ? THEN ward_since ELSE ? END, ward_code = ?,"
        " placed_by = ?, lat = ?, lon = ?, finding_ward = 0, ward_lost_at = NULL, updated_at = ?",
        (ward_code, now, ward_code, placed_by, lat, lon, now, user_id),
    )


async def start_finding_ward(db: Database, user_id: int, now: str) -> Resident | None:
    """The resident's next location or text is read as a search for their ward."""
    return await _update(db, "finding_ward = 1, updated_at = ?", (now, user_id))


async def clear_ward_lost(db: Database, user_id: int, now: str) -> Resident | None:
    """The resident has been told their ward vanished; they stay in the finding state."""
    return await _update(db, "ward_lost_at = NULL, updated_at = ?", (now, user_id))


async def block(db: Database, user_id: int, now: str) -> None:
    """Stop a resident from raising concerns (moderation); they can appeal (see /privacy)."""
    await db.execute(
        "UPDATE residents SET blocked_at = ?, updated_at = ? WHERE user_id = ?", (now, now, user_id)
    )


async def is_blocked(db: Database, user_id: int) -> bool:
    return bool(
        await db.fetchval(
            "SELECT blocked_at IS NOT NULL FROM residents WHERE user_id = ?", (user_id,)
        )
    )


async def language_of(db: Database, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    marks = ", ".join("?" for _ in user_ids)
    rows = await db.fetchall(
        f"SELECT user_id, language FROM residents WHERE user_id IN ({marks})", tuple(user_ids)
    )
    return {int(r[0]): str(r[1]) for r in rows}


async def set_language(db: Database, user_id: int, language: str, now: str) -> Resident | None:
    return await _update(db, "language = ?, updated_at = ?", (language, now, user_id))


async def seen(db: Database, user_id: int, now: str) -> Resident | None:
    """They wrote to us: they can be reached, and their data is in use (retention)."""
    return await _update(db, "last_seen_at = ?, unreachable_at = NULL", (now, user_id))
