"""Residents' choice of updates from their ward panel: none, instant, or a weekly digest.

Opt-in, never assumed: asked once when a resident first finds their ward, changed any
time with /updates. Telegram's word that someone blocked the bot turns them off.
"""

from __future__ import annotations

from bot.clock import Clock, to_iso
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import outbox, subscriptions
from storage.db import Database
from storage.residents import Resident

MODES = subscriptions.MODES


async def choose(db: Database, clock: Clock, resident: Resident, mode: str) -> None:
    if mode not in MODES:
        raise RuleError(N_("That is not a choice I know."))
    if mode != "off" and resident.ward_code is None:
        raise RuleError(N_("First tell me where you live: /ward. Then choose your updates."))
    await subscriptions.set_mode(db, resident.user_id, mode, to_iso(clock.now()))


async def should_ask(db: Database, clock: Clock, resident: Resident | None) -> bool:
    """True once: the first time a resident has a ward and has not been asked. `resident`
    is their row as stored now (the handler has just read or written it)."""
    if resident is None or resident.updates_asked or resident.ward_code is None:
        return False
    await subscriptions.mark_asked(db, resident.user_id, to_iso(clock.now()))
    return True


async def blocked_the_bot(db: Database, clock: Clock, user_id: int) -> list[int]:
    """Stop every update and drop what was waiting for them (Telegram: final); returns the
    outbox items that has finished."""
    return await outbox.unreachable(db, user_id, to_iso(clock.now()))
