"""Agenda votes: close each one at its time, then publish its results.

Ballots already stop at the closing moment (the ballot's own transaction checks it);
this job freezes the counts, puts the winners on the meeting's agenda and queues the
results to the panel and the voters. A vote whose time passed while the bot was down is
closed by the wake-up at start-up, so its results go out within a minute of it.
"""

from __future__ import annotations

from bot.domain import votes
from bot.services import Services


async def run(services: Services) -> int:
    closed = await votes.close_due(services.db, services.clock)
    queued = await votes.publish_due(
        services.db, services.clock, services.wards, services.settings.tz
    )
    return closed + queued
