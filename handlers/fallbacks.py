"""Defined answers for everything else a user can send: unknown commands, stickers and
files, edited messages, stale or forged buttons, and messages in group chats."""

from __future__ import annotations

from telegram import Update

from bot.i18n import label, normalise_language, t
from bot.render import join
from handlers.common import Context, answer, reply, resident_of


async def unknown_command(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    await reply(
        update, t(resident.language, "I don't know that command. Send /help to see what I can do.")
    )


async def unsupported_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice notes, files... where text or a location was expected."""
    resident = await resident_of(update, context)
    language = resident.language
    await reply(
        update,
        join(
            [
                t(language, "I can only read text and shared locations here."),
                t(language, "Send /help to see what I can do."),
            ]
        ),
    )


async def edited_message(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    await reply(
        update,
        t(
            resident.language,
            "I don't act on edited messages. Please send it again as a new message.",
        ),
    )


async def stale_button(update: Update, context: Context) -> None:
    """A button whose data matches no format we make: refuse, change nothing."""
    query = update.callback_query
    assert query is not None
    language = normalise_language(query.from_user.language_code)
    await answer(
        update, label(language, "This button no longer works. Send /start to begin again.")
    )


async def nothing_to_cancel(update: Update, context: Context) -> None:
    resident = await resident_of(update, context)
    await reply(update, t(resident.language, "There's nothing to cancel."))


async def group_message(update: Update, context: Context) -> None:
    user = update.effective_user
    language = normalise_language(user.language_code if user else None)
    await reply(update, t(language, "I only talk in private chats. Please message me directly."))
