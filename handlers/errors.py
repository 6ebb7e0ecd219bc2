"""The error handler: log what broke, tell the user politely, never crash the bot.

Three kinds of failure get their own answer:

- the database cannot be written (disk full, read-only file or disk, a failing disk):
  `storage.db` has already logged one clear ERROR line naming the cause and the file
  (rate-limited, no traceback per update); the person is told we cannot save anything
  right now and to try again later. What needs no write (their ward, the priorities)
  keeps working;
- Telegram did not answer (a timeout, a 5xx, the network): one WARNING line, no
  traceback; an outage of Telegram's is not a bug of ours;
- anything else is a bug: logged with its traceback, and the person gets an apology.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.i18n import N_, label, normalise_language, t
from handlers.common import Context
from storage.db import unavailable_cause

log = logging.getLogger(__name__)

STORAGE_UNAVAILABLE = N_(
    "Sorry, I can't save anything right now: our storage has a problem and the team has "
    "been told. Anything you saved before is safe. Please try again later."
)
SOMETHING_WENT_WRONG = N_(
    "Sorry, something went wrong on our side. Anything you had already saved is "
    "safe. Please try again in a moment."
)


def _language(update: object) -> str:
    user = update.effective_user if isinstance(update, Update) else None
    return normalise_language(user.language_code if user else None)


async def error_handler(update: object, context: Context) -> None:
    error = context.error
    if isinstance(error, Forbidden):
        log.info("a user blocked the bot: %s", error)
        return
    if unavailable_cause(error) is not None:
        # storage.db logged the cause and the file once; one line per update is noise.
        log.debug("update refused: the database cannot be written (%s)", error)
        await _tell_storage_unavailable(update)
        return
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        if not isinstance(update, Update):
            log.warning("network error while polling: %s", error)
            return
        log.warning(
            "could not answer update %s: Telegram did not answer (%s: %s)",
            update.update_id,
            type(error).__name__,
            error,
        )
        await _apologise(update, quiet=True)
        return
    log.error("error while handling an update", exc_info=error)
    await _apologise(update)


async def _apologise(update: object, *, quiet: bool = False) -> None:
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await update.effective_chat.send_message(t(_language(update), SOMETHING_WENT_WRONG))
    except TelegramError as err:
        if not quiet:
            log.exception("could not tell the user about the error")
        else:
            log.warning("could not tell the user about the error either: %s", err)
    except Exception:
        log.exception("could not tell the user about the error")


async def _tell_storage_unavailable(update: object) -> None:
    """A button press gets it as an alert on the button (the press must be answered
    anyway); a message, or a press answered already, as a message in the chat."""
    if not isinstance(update, Update):
        return
    language = _language(update)
    query = update.callback_query
    try:
        if query is not None:
            try:
                await query.answer(label(language, STORAGE_UNAVAILABLE), show_alert=True)
                return
            except BadRequest:
                pass  # answered already by the handler: say it in the chat
        if update.effective_chat is not None:
            await update.effective_chat.send_message(t(language, STORAGE_UNAVAILABLE))
    except TelegramError as err:
        log.warning("could not tell the user the database cannot be written: %s", err)
