"""What the scheduled jobs read and the watermarks that make each run once.

APScheduler only wakes the jobs (FIELD-NOTES: its jobs live in memory and a late one is
skipped); what is due is always worked out from these tables, so a restart loses no run
and repeats none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from storage import outbox
from storage.db import Database, placeholders
from storage.outbox import Envelope
from storage.outcomes import Outcome


async def mark(db: Database, job: str, scope: str = "") -> str | None:
    value = await db.fetchval(
        "SELECT done_until FROM schedule_marks WHERE job = ? AND scope = ?", (job, scope)
    )
    return None if value is None else str(value)


async def marks(db: Database, job: str) -> dict[str, str]:
    """Every scope's mark of a job."""
    rows = await db.fetchall("SELECT scope, done_until FROM schedule_marks WHERE job = ?", (job,))
    return {str(r[0]): str(r[1]) for r in rows}


async def _set_mark(conn: aiosqlite.Connection, job: str, scope: str, done_until: str) -> None:
    await conn.execute(
        "INSERT INTO schedule_marks (job, scope, done_until) VALUES (?, ?, ?) "
        "ON CONFLICT (job, scope) DO UPDATE SET done_until = excluded.done_until",
        (job, scope, done_until),
    )


async def set_mark(db: Database, job: str, scope: str, done_until: str) -> None:
    async with db.transaction() as conn:
        await _set_mark(conn, job, scope, done_until)


# --- weekly digest --------------------------------------------------------------------


async def outcomes_after(db: Database, ward_code: str, after_id: int, until: str) -> list[Outcome]:
    """A ward's entries after a subscriber's watermark, recorded up to the digest's slot
    (later ones wait for the next digest)."""
    rows = await db.fetchall(
        "SELECT id, ward_code, priority_id, you_said, we_did, action_date FROM outcomes "
        "WHERE ward_code = ? AND id > ? AND created_at <= ? ORDER BY id",
        (ward_code, after_id, until),
    )
    return [Outcome(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def record_digest(
    db: Database,
    ward_code: str,
    slot: str,
    envelope: Envelope | None,
    covered: Sequence[tuple[int, int]],
    now: str,
) -> int | None:
    """One ward's digest run, atomically: the outbox item, each subscriber's new watermark
    (user id, last outcome id covered) and the ward's `digest` mark for this slot."""
    async with db.transaction() as conn:
        item_id = None
        if envelope is not None:
            item_id = await outbox.write(conn, envelope, now)
            if item_id is None:  # this slot was already queued
                return None
            await conn.executemany(
                "UPDATE residents SET digest_after = ? WHERE user_id = ? AND digest_after < ?",
                [(last, user_id, last) for user_id, last in covered],
            )
        await _set_mark(conn, "digest", ward_code, slot)
    return item_id


# --- meeting reminders ----------------------------------------------------------------


@dataclass(frozen=True)
class MeetingDue:
    id: int
    ward_code: str
    starts_at: str
    venue: str
    open_to_public: bool
    online_link: str | None


async def meetings_starting(db: Database, after: str, until: str) -> list[MeetingDue]:
    rows = await db.fetchall(
        "SELECT id, ward_code, starts_at, venue, open_to_public, online_link FROM meetings "
        "WHERE cancelled_at IS NULL AND starts_at > ? AND starts_at <= ? ORDER BY starts_at",
        (after, until),
    )
    return [MeetingDue(int(r[0]), r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]


async def recent_meeting_starts(db: Database, before: str, limit: int) -> dict[str, list[str]]:
    """Per ward, the start times of its latest `limit` meetings before a moment, newest
    first (one query for every ward, for the nudges)."""
    rows = await db.fetchall(
        "SELECT ward_code, starts_at FROM (SELECT ward_code, starts_at, row_number() OVER"
        " (PARTITION BY ward_code ORDER BY starts_at DESC) AS n FROM meetings"
        " WHERE cancelled_at IS NULL AND starts_at <= ?) WHERE n <= ?"
        " ORDER BY ward_code, starts_at DESC",
        (before, limit),
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(str(row[1]))
    return found


async def staff_of(db: Database, scope: str, roles: Sequence[str]) -> list[int]:
    rows = await db.fetchall(
        f"SELECT DISTINCT user_id FROM roles WHERE scope = ? AND role IN ({placeholders(roles)}) "
        "ORDER BY user_id",
        [scope, *roles],
    )
    return [int(r[0]) for r in rows]


# --- follow-ups -----------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    concern_id: int
    ref: str
    ward_code: str
    category: str
    first_response_at: str


async def first_answered_between(db: Database, start: str, end: str) -> list[Answered]:
    """Concerns whose first response was given in [start, end).

    A concern whose first response falls in the window has a response in it: the
    candidates come from the window (index concern_responses_at), and each one's first
    response is one seek (concern_responses), rather than grouping every answer ever given.
    """
    rows = await db.fetchall(
        "SELECT c.id, c.ref, c.ward_code, c.category, f.first FROM ("
        " SELECT w.concern_id, (SELECT min(e.changed_at) FROM concern_events e"
        "  WHERE e.concern_id = w.concern_id AND e.kind = 'response') AS first"
        " FROM concern_events w WHERE w.kind = 'response' AND w.changed_at >= ?"
        " AND w.changed_at < ? GROUP BY w.concern_id) f"
        " JOIN concerns c ON c.id = f.concern_id WHERE f.first >= ? AND f.first < ?"
        " ORDER BY f.first, c.id",
        (start, end, start, end),
    )
    return [Answered(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


async def reachable(db: Database, user_ids: Sequence[int]) -> list[int]:
    if not user_ids:
        return []
    rows = await db.fetchall(
        f"SELECT user_id FROM residents WHERE user_id IN ({placeholders(user_ids)}) "
        "AND unreachable_at IS NULL ORDER BY user_id",
        list(user_ids),
    )
    return [int(r[0]) for r in rows]


# --- nudges ---------------------------------------------------------------------------


async def last_priority_review(db: Database) -> dict[str, str]:
    """Per ward with active priorities: when its priorities last changed."""
    rows = await db.fetchall(
        "SELECT p.ward_code, MAX(h.changed_at) FROM priorities p "
        "JOIN priority_history h ON h.priority_id = p.id "
        "WHERE p.ward_code IN (SELECT ward_code FROM priorities WHERE retired_at IS NULL) "
        "GROUP BY p.ward_code"
    )
    return {r[0]: str(r[1]) for r in rows}


# --- retention ------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    residents: int = 0
    photos: int = 0
    audit: int = 0
    outbox_items: int = 0


async def remove_inactive(db: Database, inactive_since: str, now: str) -> int:
    """People inactive since `inactive_since` (and holding no role) are removed.

    Someone who still receives updates is using the service even if they never write:
    they are kept while subscribed and reachable.

    Their concerns stay as anonymous items (raised_by is set NULL by the foreign key),
    their "me too"s and drafts go with them, their ratings keep the score but lose the
    person, and no outbox row names them any more.
    """
    async with db.transaction() as conn:
        ids = [
            int(r[0])
            for r in await conn.execute_fetchall(
                "SELECT user_id FROM residents WHERE "
                "COALESCE(last_seen_at, updated_at, created_at) < ? "
                "AND (updates = 'off' OR unreachable_at IS NOT NULL) "
                "AND user_id NOT IN (SELECT user_id FROM roles) "
                "AND user_id NOT IN (SELECT user_id FROM admins)",
                (inactive_since,),
            )
        ]
        if not ids:
            return 0
        marks = placeholders(ids)
        await conn.execute(f"DELETE FROM outbox WHERE chat_id IN ({marks})", ids)
        await conn.execute(
            f"UPDATE ratings SET user_id = -(abs(random()) % 9000000000000000000) - 1 "
            f"WHERE user_id IN ({marks})",
            ids,
        )
        await conn.execute(f"DELETE FROM residents WHERE user_id IN ({marks})", ids)
    return len(ids)


async def strip_old_photos(db: Database, before: str) -> int:
    """Photos of concerns closed before `before` (a photo can show people)."""
    return await db.execute(
        "UPDATE concerns SET photo_file_id = NULL WHERE photo_file_id IS NOT NULL "
        "AND status = 'closed' AND updated_at < ?",
        (before,),
    )


async def remove_old_audit(db: Database, before: str) -> int:
    return await db.execute("DELETE FROM audit_log WHERE at < ?", (before,))
