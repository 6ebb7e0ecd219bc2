"""Retention: personal data past its period is removed (once a day is enough).

- people who have not used the bot for `retention_days`, hold no role and no longer
  receive updates: their account goes; their concerns stay as anonymous items, their
  ratings keep only the score;
- photos of concerns closed more than `retention_days` ago;
- audit entries older than `retention_days`;
- finished outbox items (who was sent what) after `outbox_retention_days`;
- ballots (who picked what) of votes published more than `outbox_retention_days` ago:
  the counts, turnout and winners stay.
Deleted pages are overwritten (`secure_delete`) and the WAL is checkpointed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import to_iso
from bot.services import Services
from storage import outbox, votes
from storage import schedules as store

log = logging.getLogger(__name__)


async def run(services: Services) -> int:
    db = services.db
    now = services.clock.now()
    today = now.date().isoformat()
    if (await store.mark(db, "retention")) == today:
        return 0
    settings = services.settings
    cutoff = to_iso(now - timedelta(days=settings.retention_days))
    people = await store.remove_inactive(db, cutoff, to_iso(now))
    photos = await store.strip_old_photos(db, cutoff)
    audit = await store.remove_old_audit(db, cutoff)
    short_cutoff = to_iso(now - timedelta(days=settings.outbox_retention_days))
    items = await outbox.purge_finished(db, short_cutoff)
    ballots = await votes.forget_ballots(db, short_cutoff)
    await store.set_mark(db, "retention", "", today)
    removed = people + photos + audit + items + ballots
    if removed:
        await db.checkpoint()
        log.info(
            "retention: %d people, %d photos, %d audit entries, %d outbox items, %d ballots"
            " removed",
            people,
            photos,
            audit,
            items,
            ballots,
        )
    return removed
