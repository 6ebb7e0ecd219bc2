""" "You said, we did" entries: what residents raised and what was done about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Database, placeholders


@dataclass(frozen=True)
class Outcome:
    id: int
    ward_code: str
    priority_id: int | None
    you_said: str
    we_did: str
    action_date: str


_COLUMNS = "id, ward_code, priority_id, you_said, we_did, action_date"


async def add(
    db: Database,
    ward_code: str,
    priority_id: int | None,
    you_said: str,
    we_did: str,
    action_date: str,
    *,
    by: str,
    now: str,
    concern_ids: Sequence[int] = (),
) -> Outcome:
    """A "we did" entry, linked to a priority and/or concerns (which move to "action taken")."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO outcomes (ward_code, priority_id, you_said, we_did, action_date,"
            " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ward_code, priority_id, you_said, we_did, action_date, by, now),
        )
        outcome_id = int(cursor.lastrowid or 0)
        for concern_id in concern_ids:
            await conn.execute(
                "INSERT INTO outcome_concerns (outcome_id, concern_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (outcome_id, concern_id),
            )
            cursor = await conn.execute("SELECT status FROM concerns WHERE id = ?", (concern_id,))
            row = await cursor.fetchone()
            if row is not None and row[0] not in ("action", "closed"):
                await conn.execute(
                    "UPDATE concerns SET status = 'action', updated_at = ? WHERE id = ?",
                    (now, concern_id),
                )
                await conn.execute(
                    "INSERT INTO concern_events (concern_id, kind, from_status, to_status,"
                    " changed_by, changed_at) VALUES (?, 'status', ?, 'action', ?, ?)",
                    (concern_id, row[0], by, now),
                )
    return Outcome(outcome_id, ward_code, priority_id, you_said, we_did, action_date)


async def latest_for_priorities(db: Database, priority_ids: Sequence[int]) -> dict[int, Outcome]:
    """The most recent action for each priority that has one."""
    if not priority_ids:
        return {}
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM outcomes o WHERE o.priority_id IN ({placeholders(priority_ids)})"
        " AND o.id = (SELECT o2.id FROM outcomes o2 WHERE o2.priority_id = o.priority_id"
        " ORDER BY o2.action_date DESC, o2.id DESC LIMIT 1)",
        tuple(priority_ids),
    )
    return {row["priority_id"]: Outcome(*(row[i] for i in range(6))) for row in rows}
