"""`wardvoice try`: chat with the real bot in a terminal, with no Telegram account or token.

The bot runs exactly as `wardvoice run` does (the same Application, handlers, database,
schedules and outbox), but its Bot API is the stand-in the tests use (`bot.standin`),
on 127.0.0.1. The person at the keyboard is one simulated Telegram user:

    text and /commands   typed as in Telegram
    3                    presses button 3 of the newest message that has buttons
    51.49,-0.155         shares that location (a postcode is just typed as text)
    quit, or Ctrl+D      stops

With a database that has wards (`wardvoice import-wards`), that one is used; otherwise a
throwaway database with the demo wards (two made-up boroughs; postcodes like NB1 2BD).
`--admin` makes the terminal user an admin, to try the panel's tools too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from bot.app import build_application
from bot.clock import SystemClock
from bot.config import Settings
from bot.domain import imports
from bot.runtime import start_bot, stop_bot
from bot.services import open_services
from bot.standin import demo_wards
from bot.standin.bot_api import ApiCall, FakeBotAPI, parse_html
from bot.standin.users import SimUser
from bot.updates import PerUserUpdateProcessor
from storage import wards as ward_store
from storage.db import Database

USER_ID = 777_000_001
QUIET_FOR = 0.6  # seconds without a new message to this chat: the bot has finished answering
ANSWER_WITHIN = 30.0
_POINT = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_SHOWN = {"sendMessage", "editMessageText", "sendPhoto", "sendDocument", "editMessageReplyMarkup"}

HELP = (
    "Type as you would in Telegram: /start, a postcode (try NB1 2BD), a ward's name, or a\n"
    "location as lat,lon (try 51.49,-0.155). A number presses that button. quit to stop.\n"
)


async def _has_wards(path: Path) -> bool:
    if not await asyncio.to_thread(path.exists):
        return False
    db = await Database.open(path)
    try:
        return bool(await ward_store.load_active(db))
    finally:
        await db.close()


async def _demo_database(directory: Path) -> Path:
    path = directory / "wardvoice-try.db"
    db = await Database.open(path)
    try:
        await imports.import_wards(
            db, demo_wards.synthetic_wards_geojson(directory / "wards.geojson"), SystemClock()
        )
        await imports.import_postcodes(db, demo_wards.synthetic_postcodes_csv(directory / "pc.csv"))
    finally:
        await db.close()
    return path


class TerminalChat:
    """Turns what a person types into updates and the bot's calls into printed lines."""

    def __init__(self, api: FakeBotAPI, user: SimUser, write: Callable[[str], None]) -> None:
        self.api = api
        self.user = user
        self.write = write
        self.seen = 0  # calls already shown
        self.buttons: list[tuple[str, dict[str, Any] | None, dict[str, Any]]] = []
        self.handled: dict[int, asyncio.Event] = {}

    def on_handled(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is not None:
            self.handled.setdefault(update_id, asyncio.Event()).set()

    def update_for(self, line: str) -> dict[str, Any] | None:
        """The update a typed line stands for; None (after saying why) for a bad number."""
        text = line.strip()
        if text.isdigit() and self.buttons:
            number = int(text)
            if not 1 <= number <= len(self.buttons):
                self.write(f"  (there is no button {number})\n")
                return None
            label, message, button = self.buttons[number - 1]
            if message is not None:  # an inline button: a callback query on its message
                return self.user.callback(str(button.get("callback_data", "")), message=message)
            if button.get("request_location"):
                self.write("  (type the location as lat,lon, for example 51.49,-0.155)\n")
                return None
            return self.user.message(label)
        point = _POINT.match(text)
        if point is not None:
            return self.user.location(float(point.group(1)), float(point.group(2)))
        return self.user.message(text)

    async def send(self, update: dict[str, Any]) -> None:
        update_id = self.api.push_update(update)
        event = self.handled.setdefault(update_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ANSWER_WITHIN):
                await event.wait()
        await self.settle()

    async def settle(self) -> None:
        """Show what the bot sent until it has been quiet for a moment (the outbox sends
        some messages a little later, and edits come after a press)."""
        while True:
            count = len(self.api.calls)
            await asyncio.sleep(QUIET_FOR)
            self.show()
            if len(self.api.calls) == count:
                return

    def show(self) -> None:
        calls = self.api.calls[self.seen :]
        self.seen += len(calls)
        for call in calls:
            if call.chat_id in (self.user.chat_id, None) and call.ok:
                self._print(call)

    def _print(self, call: ApiCall) -> None:
        if call.method == "answerCallbackQuery":
            text = call.params.get("text")
            if text:
                self.write(f"  [{'!' if call.params.get('show_alert') else 'i'}] {text}\n")
            return
        if call.method not in _SHOWN:
            return
        raw = call.text or ""
        text = parse_html(raw)[0] if call.params.get("parse_mode") == "HTML" else raw
        if call.method == "sendPhoto":
            text = f"[a picture] {text}".strip()
        elif call.method == "sendDocument":
            name = getattr(call.params.get("document"), "filename", None) or "a file"
            text = f"[{name}] {text}".strip()
        elif call.method.startswith("edit"):
            text = f"(the message above changed) {text}".strip()
        if text:
            self.write("\nbot> " + text.replace("\n", "\n     ") + "\n")
        self._remember_buttons(call)

    def _remember_buttons(self, call: ApiCall) -> None:
        rows = call.buttons
        markup = call.params.get("reply_markup")
        if not rows:
            if call.method.startswith("edit") or isinstance(markup, dict):
                self.buttons = []
            return
        inline = isinstance(markup, dict) and "inline_keyboard" in markup
        message = self._message_of(call) if inline else None
        self.buttons = [(b.get("text", ""), message, b) for row in rows for b in row]
        for number, (label, _, _) in enumerate(self.buttons, start=1):
            self.write(f"     [{number}] {label}\n")

    def _message_of(self, call: ApiCall) -> dict[str, Any] | None:
        """The message (as the chat shows it now) that carries these inline buttons."""
        message_id = call.params.get("message_id")
        messages = self.api.messages(self.user.chat_id)
        if message_id is not None:
            return next((m for m in messages if m.get("message_id") == message_id), None)
        return messages[-1] if messages else None


async def _read_line(stream: IO[str]) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return line if line else None


async def try_chat(
    settings: Settings,
    *,
    demo: bool = False,
    admin: bool = False,
    language: str = "en",
    stdin: IO[str] | None = None,
    write: Callable[[str], None] | None = None,
) -> int:
    """Run the bot against the stand-in and chat with it until EOF or `quit`."""
    stdin = stdin or sys.stdin
    out = write or (lambda text: print(text, end="", flush=True))
    with tempfile.TemporaryDirectory(prefix="wardvoice-try-") as scratch:
        db_path = settings.db_path
        if demo or not await _has_wards(db_path):
            out("Using the demo wards (Northbank and Southbank, made up).\n")
            db_path = await _demo_database(Path(scratch))
        api = FakeBotAPI(bot_username="WardVoiceTryBot")
        await api.start()
        local = replace(
            settings,
            token=FakeBotAPI.TOKEN,
            api_base_url=api.base_url,
            api_file_url=api.base_file_url,
            db_path=db_path,
            admin_ids=settings.admin_ids | ({USER_ID} if admin else set()),
        )
        services = await open_services(local, SystemClock())
        application = build_application(services)
        user = SimUser(USER_ID, first_name="You", language_code=language)
        chat = TerminalChat(api, user, out)
        processor = application.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        processor.listeners.append(chat.on_handled)
        try:
            await start_bot(application, poll_timeout=1)
            await chat.settle()  # start-up messages, if any
            out(HELP)
            while True:
                out("\nyou> ")
                line = await _read_line(stdin)
                if line is None or line.strip().lower() in ("quit", "exit", "/quit"):
                    out("\n")
                    break
                if not line.strip():
                    continue
                update = chat.update_for(line)
                if update is not None:
                    await chat.send(update)
        finally:
            await stop_bot(application)
            await services.close()
            await api.stop()
    return 0
