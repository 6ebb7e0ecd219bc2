"""Small helpers every handler module uses: services, the resident, replying in HTML."""

from __future__ import annotations

import logging
import re
from typing import cast

from telegram import (
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import CallbackContext, ExtBot

from bot.clock import to_iso
from bot.domain import roles
from bot.domain.errors import RuleError
from bot.domain.roles import Action
from bot.i18n import label, normalise_language, t
from bot.render import Html
from bot.services import Services
from storage import residents as resident_store
from storage.db import unavailable_cause
from storage.residents import Resident

log = logging.getLogger(__name__)

Context = CallbackContext[ExtBot[None], dict, dict, dict]
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None


_RECORD_ID = re.compile(r"#?([0-9]{1,9})")


def record_id(text: str) -> int | None:
    """A typed record number (`12` or `#12`): ASCII digits, at most nine. `str.isdigit`
    would accept "²", which `int` refuses, and a longer number overflows SQLite."""
    match = _RECORD_ID.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def services(context: Context) -> Services:
    return cast(Services, context.application.bot_data["services"])


def now_iso(context: Context) -> str:
    return to_iso(services(context).clock.now())


# Where an update's resident is kept while it is handled. python-telegram-bot builds one
# context per update and hands it to every handler that runs for it (group -1 included),
# and a user's updates are handled one at a time (bot/updates.py).
_RESIDENT = "wardvoice_resident"


async def resident_of(update: Update, context: Context) -> Resident:
    """The resident behind this update, created at first contact in Telegram's language.

    Read from SQLite once per update, then kept on the update's context: the handlers that
    run for one update ask for it several times. A handler that changes the resident's row
    keeps it current with `remember_resident` (the row as written) or `forget_resident`.
    """
    user = update.effective_user
    assert user is not None
    kept = context.__dict__.get(_RESIDENT)
    if isinstance(kept, Resident) and kept.user_id == user.id:
        return kept
    now = now_iso(context)
    db = services(context).db
    resident = await resident_store.get_or_create(
        db, user.id, normalise_language(user.language_code), now
    )
    # Last seen, to the day: what retention measures inactivity by (one write a day).
    if resident.last_seen_at is None or resident.last_seen_at[:10] != now[:10]:
        try:
            resident = await resident_store.seen(db, user.id, now) or resident
        except Exception as err:
            # Disk full or read-only (storage.db has said so): a day's "last seen" can
            # wait; what needs no write (their ward, the priorities) still works.
            if unavailable_cause(err) is None:
                raise
    context.__dict__[_RESIDENT] = resident
    return resident


def remember_resident(context: Context, resident: Resident | None) -> None:
    """This update changed its resident's row: `resident` is the row as now stored (None:
    read it again when next asked)."""
    if resident is None:
        forget_resident(context)
    else:
        context.__dict__[_RESIDENT] = resident


def forget_resident(context: Context) -> None:
    """This update changed its resident's row in a way `resident_of` must read again."""
    context.__dict__.pop(_RESIDENT, None)


async def reply(update: Update, text: Html, markup: Markup = None) -> Message:
    """Answer in the chat the update came from; HTML parse mode is the application default."""
    chat = update.effective_chat
    assert chat is not None
    return await chat.send_message(text, reply_markup=markup)


async def answer(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press. A press delivered twice (Telegram resends what a crashed bot
    had fetched but not confirmed) was answered already: that is not an error."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as err:
        log.info("button press already answered: %s", err.message)


async def refuse(update: Update, language: str, error: RuleError) -> None:
    """Answer a refused action: as an alert on a button, or as a reply to a command."""
    if update.callback_query is not None:
        await answer(update, label(language, error.message, **error.values), alert=True)
    else:
        await reply(update, t(language, error.message, **error.values))


async def allowed(
    update: Update, context: Context, action: Action, ward_code: str, target: str | None = None
) -> bool:
    """Check the role on the server; answer the refusal (already audited) when refused."""
    resident = await resident_of(update, context)
    try:
        await authorise(context, resident.user_id, action, ward_code, target=target)
    except roles.NotAllowed as err:
        await refuse(update, resident.language, err)
        return False
    return True


async def authorise(
    context: Context, user_id: int, action: Action, ward_code: str, *, target: str | None = None
) -> None:
    """`roles.authorise` with this process's services; raises `NotAllowed` (audited)."""
    svc = services(context)
    await roles.authorise(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        user_id,
        action,
        ward_code,
        target=target,
    )


async def audit_action(
    context: Context,
    user_id: int,
    action: str,
    scope: str | None,
    target: str | None = None,
    detail: str = "",
    *,
    refused: bool = False,
) -> None:
    """Write what a staff member did (or was refused) to the audit log."""
    svc = services(context)
    await roles.record(
        svc.db, svc.clock, roles.actor(user_id), action, scope, target, detail, refused=refused
    )


async def edit_quietly(
    update: Update, text: Html, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit the message a button sat on; an old or deleted message is not an error."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as err:
        log.info("could not edit message: %s", err.message)
