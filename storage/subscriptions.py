"""Who asked to hear from their ward's panel, and how: at once, or in a weekly digest.

Opt-in only: a resident's `updates` starts `off` and changes only when they choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Database, placeholders

MODES = ("off", "instant", "weekly")


@dataclass(frozen=True)
class Subscriber:
    user_id: int
    language: str
    ward_code: str
    mode: str
    digest_after: int  # the last outcome id their digest has covered


async def set_mode(db: Database, user_id: int, mode: str, now: str) -> None:
    """Choose updates; a new weekly subscriber's digest starts from what is new from now."""
    if mode not in MODES:
        raise ValueError(f"unknown updates mode {mode!r}")
    await db.execute(
        "UPDATE residents SET updates = ?, updates_asked_at = COALESCE(updates_asked_at, ?), "
        "updates_changed_at = ?, unreachable_at = NULL, "
        "digest_after = CASE WHEN updates = 'weekly' THEN digest_after "
        "ELSE (SELECT COALESCE(MAX(id), 0) FROM outcomes) END "
        "WHERE user_id = ?",
        (mode, now, now, user_id),
    )


async def mark_asked(db: Database, user_id: int, now: str) -> None:
    await db.execute(
        "UPDATE residents SET updates_asked_at = COALESCE(updates_asked_at, ?) WHERE user_id = ?",
        (now, user_id),
    )


_SUBSCRIBER = "SELECT user_id, language, ward_code, updates, digest_after FROM residents "


def _subscriber(row: Sequence) -> Subscriber:  # type: ignore[type-arg]
    return Subscriber(int(row[0]), row[1], row[2], row[3], int(row[4]))


async def of_ward(
    db: Database, ward_code: str, modes: Sequence[str] = ("instant", "weekly")
) -> list[Subscriber]:
    """Subscribers of a ward in these modes who can still be reached."""
    rows = await db.fetchall(
        _SUBSCRIBER + f"WHERE ward_code = ? AND updates IN ({placeholders(modes)}) "
        "AND unreachable_at IS NULL ORDER BY user_id",
        [ward_code, *modes],
    )
    return [_subscriber(r) for r in rows]


async def wards_with_weekly(db: Database) -> list[str]:
    rows = await db.fetchall(
        "SELECT DISTINCT ward_code FROM residents WHERE updates = 'weekly' "
        "AND ward_code IS NOT NULL AND unreachable_at IS NULL ORDER BY ward_code"
    )
    return [r[0] for r in rows]


async def counts(db: Database, ward_codes: Sequence[str]) -> dict[str, int]:
    """Subscribers by mode over some wards (for staff figures)."""
    if not ward_codes:
        return {}
    rows = await db.fetchall(
        "SELECT updates, COUNT(*) FROM residents WHERE updates != 'off' "
        f"AND unreachable_at IS NULL AND ward_code IN ({placeholders(ward_codes)}) "
        "GROUP BY updates",
        list(ward_codes),
    )
    return {r[0]: int(r[1]) for r in rows}
