"""A bare python-telegram-bot echo bot: the reference bench/overhead.py measures WardVoice against.

Run by hand (bench/overhead.py starts it itself, in a process of its own):

    TELEGRAM_BOT_TOKEN=... TELEGRAM_API_BASE_URL=http://127.0.0.1:PORT/bot \\
        /work/venv/bin/python bench/echo_bot.py [--http httpx|aiohttp]

A tiny `Application` with python-telegram-bot's default settings (updates handled one at a
time, no rate limiter, no persistence): a text message is echoed back, any other message
gets one short text, and a button press is answered (answerCallbackQuery). So every update
gets exactly one reply. `--http httpx` (the default) is PTB's own HTTP backend;
`--http aiohttp` swaps in WardVoice's `bot.http.AiohttpRequest`, the backend the bot itself
uses, so the ratio is not flattered by httpx's cost per call. Polls until SIGTERM or SIGINT.
Logs only warnings and errors, to stderr, in the bot's own format.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(message.text or "(not text)")


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()


def build(token: str, base_url: str | None, http: str) -> Application:  # type: ignore[type-arg]
    builder = ApplicationBuilder().token(token)
    if base_url:
        builder = builder.base_url(base_url)
    if http == "aiohttp":
        from bot.http import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest())
    application = builder.build()
    application.add_handler(MessageHandler(filters.ALL & ~filters.UpdateType.EDITED, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    return application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", choices=("httpx", "aiohttp"), default="httpx")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    application = build(
        os.environ["TELEGRAM_BOT_TOKEN"], os.environ.get("TELEGRAM_API_BASE_URL"), args.http
    )
    # run_polling stops cleanly on SIGTERM and SIGINT. A long-poll timeout above the fake's
    # own cap (1 s) keeps the polling loop as it is against Telegram.
    application.run_polling(allowed_updates=Update.ALL_TYPES, timeout=30)


if __name__ == "__main__":
    main()
