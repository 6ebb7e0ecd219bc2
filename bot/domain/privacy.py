"""Residents' data rights: everything kept about them (/mydata) and erasing it (/forget).

    /forget ─▶ what will happen, [Forget me] [Keep my data]
        the prompt is stored (forget_requests) with a random token the buttons carry;
        "Forget me" works only for the person asked, only with that prompt's token, and
        only for PROMPT_HOURS; a forged or repeated press finds no prompt and changes
        nothing.

Erasing is one transaction (`storage.privacy.forget`), then a WAL checkpoint, so what was
erased is gone from the database file and its log (`secure_delete` is on).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock, to_iso
from bot.domain import roles
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import drafts as draft_store
from storage import privacy as privacy_store
from storage.db import Database
from storage.privacy import Forgotten
from storage.roles import RoleGrant

PROMPT_HOURS = 24  # a /forget prompt's "Forget me" works this long
TOKEN_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L, as draft keys
TOKEN_LENGTH = 8
FILENAME = "wardvoice-mydata.json"

# Shown where a concern's text was erased because whoever raised it asked to be forgotten.
ERASED_TEXT = N_("[erased at the request of whoever raised it]")
WRITING = N_(
    "You're in the middle of writing a concern. Send /cancel to stop it first, then /forget."
)


@dataclass(frozen=True)
class Prompt:
    """A /forget prompt: its token, and the roles the person would lose."""

    token: str
    grants: tuple[RoleGrant, ...]
    admin: bool  # an admin granted in the database (lost)
    configured_admin: bool  # an admin by the bot's configuration (stays: not in the database)


def new_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


async def export(db: Database, clock: Clock, user_id: int, about: str) -> dict[str, Any]:
    """Everything stored about this person, as a JSON-ready document; `about` (in their
    language) opens it."""
    return {
        "about": about,
        "user_id": user_id,
        "exported_at": to_iso(clock.now()),
        **await privacy_store.export_of(db, user_id),
    }


def as_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")


async def _not_writing(db: Database, user_id: int) -> None:
    # A concern being written is a conversation in progress: erasing its draft under it
    # would leave the conversation waiting for text that nothing stores.
    if await draft_store.get(db, user_id) is not None:
        raise RuleError(WRITING)


async def ask(db: Database, clock: Clock, admin_ids: frozenset[int], user_id: int) -> Prompt:
    """Store a fresh /forget prompt for this person (replacing an older one)."""
    await _not_writing(db, user_id)
    token = new_token()
    await privacy_store.ask_to_forget(db, user_id, token, to_iso(clock.now()))
    staff = await roles.staff_of(db, frozenset(), user_id)
    return Prompt(token, staff.grants, staff.admin, user_id in admin_ids)


async def keep(db: Database, user_id: int, token: str) -> bool:
    """The "Keep my data" button: False when this person has no such prompt (nothing changes)."""
    return await privacy_store.drop_forget_request(db, user_id, token)


async def confirm(db: Database, clock: Clock, user_id: int, token: str) -> Forgotten | None:
    """The "Forget me" button: erase the person if they have this prompt pending; None otherwise."""
    await _not_writing(db, user_id)
    now = clock.now()
    done = await privacy_store.forget(
        db,
        user_id,
        to_iso(now),
        token=token,
        asked_after=to_iso(now - timedelta(hours=PROMPT_HOURS)),
    )
    if done is not None:
        await db.checkpoint()
    return done
