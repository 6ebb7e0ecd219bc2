"""Residents' answers to "did this make a difference?" (1-5), one per concern and person."""

from __future__ import annotations

from collections.abc import Sequence

from storage.db import Database, placeholders


async def record(db: Database, concern_id: int, user_id: int, score: int, now: str) -> None:
    """Save a rating; pressing another number later changes it."""
    await db.execute(
        "INSERT INTO ratings (concern_id, user_id, score, rated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (concern_id, user_id) DO UPDATE SET score = excluded.score, "
        "rated_at = excluded.rated_at",
        (concern_id, user_id, score, now),
    )


async def satisfaction(
    db: Database, ward_codes: Sequence[str], start: str, end: str
) -> tuple[float | None, int]:
    """Mean rating and how many, for concerns of these wards rated in [start, end)."""
    if not ward_codes:
        return None, 0
    row = await db.fetchone(
        "SELECT AVG(r.score), COUNT(*) FROM ratings r JOIN concerns c ON c.id = r.concern_id "
        f"WHERE c.ward_code IN ({placeholders(ward_codes)}) AND r.rated_at >= ? "
        "AND r.rated_at < ?",
        [*ward_codes, start, end],
    )
    if row is None or not row[1]:
        return None, 0
    return float(row[0]), int(row[1])
