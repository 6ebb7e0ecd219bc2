"""/privacy: what is kept, why, for how long, who sees it, and how to appeal a block."""

from __future__ import annotations

from telegram import Update

from bot.i18n import t
from bot.render import join
from handlers.common import Context, reply, resident_of, services


async def privacy_command(update: Update, context: Context) -> None:
    language = (await resident_of(update, context)).language
    await reply(
        update,
        join(
            [
                t(language, "<b>Your privacy</b>"),
                t(
                    language,
                    "What we keep: your Telegram user id, your language, your ward and "
                    "the place you gave to find it, and the concerns you raise (their "
                    "text, place and photo) with their answers.",
                ),
                t(language, "Why: to show you your ward's work and to answer your concerns."),
                t(
                    language,
                    "Who sees it: your ward's panel and neighbourhood team see your "
                    "concerns' text, place and photo, never your name or Telegram "
                    "account. The public record never shows who raised a concern.",
                ),
                t(
                    language,
                    "Votes: what you picked is kept until the results are out, then for "
                    "{days} days, then deleted. Nobody on the panel sees who picked what; "
                    "they only see the totals.",
                    days=services(context).settings.outbox_retention_days,
                ),
                t(language, "Your name and username are never stored."),
                "",
                t(
                    language,
                    "<b>Appeals</b>: if you have been stopped from raising concerns and "
                    "think it is a mistake, write to your ward panel's chair or your "
                    "council, quoting your Telegram user id: {user_id}.",
                    user_id=update.effective_user.id if update.effective_user else "",
                ),
            ]
        ),
    )
