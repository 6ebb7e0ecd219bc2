"""A ward panel's meetings: when (a UTC moment), where, open or closed, an optional link.

Nothing here assumes a weekday or an hour: panels rotate both, so each meeting is its own
row. A cancelled meeting keeps its row (the public record shows what was planned).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Database, placeholders


@dataclass(frozen=True)
class Meeting:
    id: int
    ward_code: str
    starts_at: str
    venue: str
    open_to_public: bool
    online_link: str | None
    cancelled_at: str | None


@dataclass(frozen=True)
class AgendaItem:
    meeting_id: int
    title: str
    detail: str | None
    vote_id: int | None  # set when young people (or residents) voted it on
    votes: int | None


class SlotTaken(Exception):
    """The ward already has a (not cancelled) meeting at that moment."""


_COLUMNS = "id, ward_code, starts_at, venue, open_to_public, online_link, cancelled_at"


def _meeting(row: sqlite3.Row) -> Meeting:
    return Meeting(
        id=int(row[0]),
        ward_code=row[1],
        starts_at=row[2],
        venue=row[3],
        open_to_public=bool(row[4]),
        online_link=row[5],
        cancelled_at=row[6],
    )


async def add(
    db: Database,
    ward_code: str,
    starts_at: str,
    venue: str,
    open_to_public: bool,
    online_link: str | None,
    *,
    by: str,
    now: str,
) -> Meeting:
    try:
        async with db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO meetings (ward_code, starts_at, venue, open_to_public, online_link,"
                " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ward_code, starts_at, venue, int(open_to_public), online_link, by, now),
            )
            meeting_id = int(cursor.lastrowid or 0)
    except sqlite3.IntegrityError as err:
        if "meetings.ward_code, meetings.starts_at" not in str(err):
            raise
        raise SlotTaken(starts_at) from err
    return Meeting(meeting_id, ward_code, starts_at, venue, open_to_public, online_link, None)


async def get(db: Database, meeting_id: int) -> Meeting | None:
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM meetings WHERE id = ?", (meeting_id,))
    return None if row is None else _meeting(row)


async def upcoming(db: Database, ward_code: str, now: str, limit: int) -> list[Meeting]:
    """Meetings of a ward that have not started and are not cancelled, soonest first."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM meetings WHERE ward_code = ? AND starts_at > ?"
        " AND cancelled_at IS NULL ORDER BY starts_at, id LIMIT ?",
        (ward_code, now, limit),
    )
    return [_meeting(r) for r in rows]


async def cancel(db: Database, meeting_id: int, *, by: str, now: str) -> bool:
    """True if this call cancelled it; False if it was cancelled already."""
    changed = await db.execute(
        "UPDATE meetings SET cancelled_at = ?, cancelled_by = ? WHERE id = ?"
        " AND cancelled_at IS NULL",
        (now, by, meeting_id),
    )
    return changed == 1


async def last_held(db: Database, ward_code: str, now: str) -> str | None:
    """When the ward's panel last met (not cancelled), as UTC ISO text."""
    return await db.fetchval(
        "SELECT max(starts_at) FROM meetings WHERE ward_code = ? AND starts_at <= ?"
        " AND cancelled_at IS NULL",
        (ward_code, now),
    )


async def agenda_of(db: Database, meeting_ids: list[int]) -> dict[int, list[AgendaItem]]:
    """The agenda items of these meetings, most voted first, in the order they were added."""
    found: dict[int, list[AgendaItem]] = {m: [] for m in meeting_ids}
    if not meeting_ids:
        return found
    rows = await db.fetchall(
        f"SELECT meeting_id, title, detail, vote_id, votes FROM agenda_items"
        f" WHERE meeting_id IN ({placeholders(meeting_ids)}) ORDER BY meeting_id, id",
        meeting_ids,
    )
    for row in rows:
        found[int(row[0])].append(AgendaItem(int(row[0]), row[1], row[2], row[3], row[4]))
    return found
