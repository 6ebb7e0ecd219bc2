"""The error handler: log what broke, tell the user politely, never crash the bot."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError

from bot.i18n import normalise_language, t
from handlers.common import Context

log = logging.getLogger(__name__)


async def error_handler(update: object, context: Context) -> None:
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a user blocked the bot: %s", error)
        return
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        log.warning("network error while polling: %s", error)
        return
    log.error("error while handling an update", exc_info=error)
    if isinstance(update, Update) and update.effective_chat is not None:
        user = update.effective_user
        language = normalise_language(user.language_code if user else None)
        try:
            await update.effective_chat.send_message(
                t(
                    language,
                    "Sorry, something went wrong on our side. Anything you had already saved is "
                    "safe. Please try again in a moment.",
                )
            )
        except Exception:
            log.exception("could not tell the user about the error")
