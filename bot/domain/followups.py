"""Ratings from the "did this make a difference?" follow-up."""

from __future__ import annotations

from bot.clock import Clock, to_iso
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import outbox, ratings
from storage.db import Database


async def rate(db: Database, clock: Clock, concern_id: int, user_id: int, score: int) -> None:
    """Save a 1-5 rating, only from someone the follow-up for that concern was sent to."""
    if not 1 <= score <= 5:
        raise RuleError(N_("Choose a number from 1 to 5."))
    if not await outbox.was_sent(db, "followup", f"followup:{concern_id}", user_id):
        raise RuleError(N_("This question was not asked of you."))
    await ratings.record(db, concern_id, user_id, score, to_iso(clock.now()))
