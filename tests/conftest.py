"""The one fixture world: a fake Bot API and a fake Nominatim on 127.0.0.1, the real
python-telegram-bot Application polling the fake, a real SQLite file with wards imported
through the real import code, and an injectable clock.

A test fails if the bot's error handler saw any exception.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.domain.imports import import_postcodes, import_wards
from bot.runtime import start_bot, stop_bot
from bot.services import Services, open_services
from bot.updates import PerUserUpdateProcessor
from schedules import run_due
from schedules.dispatcher import Dispatcher
from storage.db import Database
from tests.fakes.bot_api import ApiCall, FakeBotAPI, parse_html
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.users import SimUser
from tests.realdata import require_shared_data
from tests.synthetic import synthetic_postcodes_csv, synthetic_wards_geojson

# python-telegram-bot 22 warns on RetryAfter.retry_after unless this opts in to timedelta;
# warnings are errors in this suite, and the bot itself opts in too (bot/cli.py).
os.environ["PTB_TIMEDELTA"] = "true"

HANDLING_TIMEOUT = 90.0  # seconds: an upper bound for bulk tests on a loaded machine, not a goal
START = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class FakeClock:
    """The clock the bot reads; tests move it instead of sleeping."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class Reply:
    """What the bot did in one user's chat while handling one of their updates."""

    calls: list[ApiCall]

    @property
    def texts(self) -> list[str]:
        """Each message as the person sees it (HTML rendered to plain text)."""
        return [_visible(c) for c in self.calls if c.text is not None and c.ok]

    @property
    def html(self) -> str:
        """The raw HTML the bot sent, to check escaping."""
        return "\n".join(c.text for c in self.calls if c.text is not None)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def buttons(self) -> list[dict]:
        return [b for c in self.calls for row in c.buttons for b in row]

    @property
    def answers(self) -> list[ApiCall]:
        return [c for c in self.calls if c.method == "answerCallbackQuery"]


def _visible(call: ApiCall) -> str:
    text = call.text or ""
    if call.params.get("parse_mode") == "HTML":
        return parse_html(text)[0]
    return text


class Person:
    """A simulated resident: says things, shares locations, taps buttons."""

    def __init__(self, world: World, sim: SimUser) -> None:
        self.world = world
        self.sim = sim
        self.user_id = sim.user_id

    async def says(self, text: str) -> Reply:
        return await self.world.deliver(self.sim.message(text))

    async def shares_location(self, lat: float, lon: float) -> Reply:
        return await self.world.deliver(self.sim.location(lat, lon))

    async def sends(self, update: dict) -> Reply:
        return await self.world.deliver(update)

    async def taps(self, button_text: str, reply: Reply | None = None) -> Reply:
        """Press the inline button labelled `button_text` on the newest message showing it."""
        for message in reversed(self.world.api.messages(self.sim.chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for row in rows:
                for button in row:
                    if button_text in button["text"]:
                        return await self.presses(button["callback_data"], message)
        raise AssertionError(f"no button {button_text!r} in the chat")

    async def presses(self, data: str, message: dict | None = None) -> Reply:
        """Send a callback query with any data (also forged) on a bot message."""
        if message is None:
            message = self.world.api.messages(self.sim.chat_id)[-1]
        return await self.world.deliver(self.sim.callback(data, message=message))


@dataclass
class World:
    api: FakeBotAPI
    nominatim: FakeNominatim
    services: Services
    application: Application  # type: ignore[type-arg]
    clock: FakeClock
    errors: list[BaseException] = field(default_factory=list)
    _handled: dict[int, asyncio.Event] = field(default_factory=dict)
    _next_user: int = 1000
    stopped: bool = False

    async def stop(self) -> None:
        """Stop the bot and close its database, as a process exit would (idempotent)."""
        if not self.stopped:
            self.stopped = True
            await stop_bot(self.application)
            await self.services.close()

    @property
    def db(self) -> Database:
        return self.services.db

    def person(self, *, language: str | None = "en", first_name: str = "Sam") -> Person:
        self._next_user += 1
        sim = SimUser(
            self._next_user,
            first_name=first_name,
            language_code=language,
            clock=lambda: self.clock.now().timestamp(),
        )
        return Person(self, sim)

    def _handled_event(self, update_id: int) -> asyncio.Event:
        return self._handled.setdefault(update_id, asyncio.Event())

    def on_handled(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is not None:
            self._handled_event(update_id).set()

    @property
    def dispatcher(self) -> Dispatcher:
        return self.application.bot_data["dispatcher"]

    async def delivered(self) -> None:
        """Wait until the outbox has sent everything due (messages to many go through it)."""
        await self.dispatcher.drained(within=HANDLING_TIMEOUT)

    async def tick(self) -> dict[str, int]:
        """Run the scheduled jobs now, as the APScheduler wake-up does, then deliver."""
        report = await run_due(self.services)
        await self.delivered()
        return report

    async def push(self, update: dict) -> int:
        return self.api.push_update(update)

    async def wait_handled(self, update_id: int) -> None:
        async with asyncio.timeout(HANDLING_TIMEOUT):
            await self._handled_event(update_id).wait()

    async def deliver(self, update: dict) -> Reply:
        """Push one update through getUpdates and return what the bot did in that chat."""
        chat_id = _chat_of(update)
        start = len(self.api.calls)
        update_id = self.api.push_update(update)
        await self.wait_handled(update_id)
        calls = [c for c in self.api.calls[start:] if c.chat_id in (chat_id, None)]
        return Reply([c for c in calls if c.method != "getUpdates"])


def _chat_of(update: dict) -> int | None:
    for key in ("message", "edited_message"):
        if key in update:
            return int(update[key]["chat"]["id"])
    if "callback_query" in update:
        return int(update["callback_query"]["from"]["id"])
    return None


async def import_into(db_path: Path, wards_file: Path, postcodes_file: Path | None) -> None:
    db = await Database.open(db_path)
    try:
        await import_wards(db, wards_file, FakeClock())
        if postcodes_file is not None:
            await import_postcodes(db, postcodes_file)
    finally:
        await db.close()


@pytest.fixture(scope="session")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the synthetic wards and postcodes, built once and copied per test."""
    folder = tmp_path_factory.mktemp("synthetic")
    wards = synthetic_wards_geojson(folder / "wards.geojson")
    postcodes = synthetic_postcodes_csv(folder / "postcodes.csv")
    path = folder / "template.db"
    asyncio.run(import_into(path, wards, postcodes))
    return path


@pytest.fixture(scope="session")
def london_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the real London wards and the sample postcodes (../shared/data)."""
    data = require_shared_data()
    path = tmp_path_factory.mktemp("london") / "template.db"
    asyncio.run(
        import_into(
            path, data / "london_wards_2022_bsc.geojson", data / "london_postcodes_sample.csv"
        )
    )
    return path


def _copy_db(template: Path, target: Path) -> Path:
    shutil.copyfile(template, target)
    return target


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database with nothing in it."""
    database = await Database.open(tmp_path / "fresh.db")
    yield database
    await database.close()


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def fake_nominatim() -> AsyncIterator[FakeNominatim]:
    server = FakeNominatim()
    await server.start()
    yield server
    await server.stop()


WorldFactory = Callable[..., Any]


@pytest.fixture
async def make_world(
    fake_api: FakeBotAPI, fake_nominatim: FakeNominatim, tmp_path: Path
) -> AsyncIterator[WorldFactory]:
    """Start the real bot against the fakes on a copy of a template database."""
    worlds: list[World] = []

    async def start(template: Path | None, **overrides: Any) -> World:
        db_path = overrides.pop("db_path", None) or tmp_path / f"wardvoice-{len(worlds)}.db"
        if template is not None:
            _copy_db(template, db_path)
        settings = Settings(
            token=FakeBotAPI.TOKEN,
            api_base_url=fake_api.base_url,
            api_file_url=fake_api.base_file_url,
            db_path=db_path,
            geocoder=f"nominatim:domain={fake_nominatim.domain},scheme=http,min_delay=0",
            **{"max_send_rate": 10_000, **overrides},
        )
        clock = FakeClock()
        services = await open_services(settings, clock)
        application = build_application(services)
        world = World(fake_api, fake_nominatim, services, application, clock)

        async def record(update: object, context: Any) -> None:
            world.errors.append(context.error)

        application.add_error_handler(record)
        processor = application.update_processor
        assert isinstance(processor, PerUserUpdateProcessor)
        processor.listeners.append(world.on_handled)
        await start_bot(application, poll_timeout=1)
        worlds.append(world)
        return world

    yield start

    for world in worlds:
        await world.stop()
    errors = [e for w in worlds for e in w.errors]
    assert not errors, f"the bot's error handler saw: {errors!r}"


@pytest.fixture
async def world(make_world: WorldFactory, synthetic_db: Path) -> World:
    """The bot on the synthetic ward set (always available)."""
    return await make_world(synthetic_db)


@pytest.fixture
async def london(make_world: WorldFactory, london_db: Path) -> World:
    """The bot on the real London wards and sample postcodes."""
    return await make_world(london_db)
