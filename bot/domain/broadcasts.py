"""Broadcasts from a ward's team to everyone subscribed to that ward: compose, preview,
confirm, then the outbox delivers and a progress message counts it out.

The composed text waits as a draft outbox item (not in chat memory), so a preview's
"Send" button still works after a restart, and a double tap queues it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.numbers import format_decimal

from bot.clock import Clock, to_iso
from bot.domain.errors import RuleError
from bot.i18n import N_, available_languages, babel_locale, t
from bot.render import Html
from storage import outbox, subscriptions
from storage.db import Database
from storage.outbox import Counts, Envelope, Item, Recipient

MIN_LENGTH = 5
# Telegram allows 4,096 characters; the heading takes the rest.
MAX_LENGTH = 3500


@dataclass(frozen=True)
class Draft:
    item_id: int
    ward_code: str
    recipients: int
    preview: Html  # what residents will see, in the sender's language


def message(language: str, ward_name: str, text: str) -> Html:
    """The broadcast as a resident sees it."""
    return t(
        language,
        "📣 <b>News from the {ward} neighbourhood team</b>\n\n{text}\n\n"
        "<i>You get these because you asked for updates. /updates to change.</i>",
        ward=ward_name,
        text=text,
    )


async def compose(
    db: Database,
    clock: Clock,
    ward_code: str,
    ward_name: str,
    text: str,
    *,
    by: str,
    language: str,
) -> Draft:
    text = text.strip()
    if len(text) < MIN_LENGTH:
        raise RuleError(
            N_(
                "Write the message after the command, for example: "
                "/broadcast The bus shelter on Mill Lane has been repaired."
            )
        )
    if len(text) > MAX_LENGTH:
        raise RuleError(
            N_("That is {length} characters; a broadcast can have at most {limit}."),
            length=len(text),
            limit=MAX_LENGTH,
        )
    texts = {lang: str(message(lang, ward_name, text)) for lang in available_languages()}
    texts.setdefault(language, str(message(language, ward_name, text)))
    item_id = await outbox.create_draft(
        db,
        Envelope(kind="broadcast", texts=texts, recipients=(), ward_code=ward_code, created_by=by),
        to_iso(clock.now()),
    )
    count = len(await subscriptions.of_ward(db, ward_code))
    return Draft(item_id, ward_code, count, message(language, ward_name, text))


async def draft(db: Database, item_id: int) -> Item | None:
    found = await outbox.item(db, item_id)
    return found if found is not None and found.kind == "broadcast" else None


async def confirm(
    db: Database,
    clock: Clock,
    item: Item,
    *,
    progress_chat: int,
    progress_message: int,
    language: str,
) -> int | None:
    """Queue the draft to the ward's subscribers now; None if it was already sent/cancelled."""
    assert item.ward_code is not None
    recipients = [
        Recipient(s.user_id, s.language) for s in await subscriptions.of_ward(db, item.ward_code)
    ]
    return await outbox.release_draft(
        db,
        item.id,
        recipients,
        to_iso(clock.now()),
        progress_chat=progress_chat,
        progress_message=progress_message,
        progress_language=language,
    )


async def cancel(db: Database, clock: Clock, item: Item) -> bool:
    return await outbox.cancel_draft(db, item.id, to_iso(clock.now()))


def _number(language: str, value: int) -> str:
    return format_decimal(value, locale=babel_locale(language))


def progress_text(language: str, counts: Counts, *, final: bool) -> Html:
    """The sender's live count, edited as the outbox works through the list."""
    if final:
        return t(
            language,
            "✅ Broadcast finished: {sent} sent, {blocked} could not be reached "
            "(blocked the bot), {failed} failed.",
            sent=_number(language, counts.sent),
            blocked=_number(language, counts.blocked),
            failed=_number(language, counts.failed),
        )
    return t(
        language,
        "📤 Sending… {sent} of {total} sent.",
        sent=_number(language, counts.sent),
        total=_number(language, counts.total),
    )
