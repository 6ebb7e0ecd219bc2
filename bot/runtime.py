"""Starting and stopping the bot (one path for `wardvoice run` and for the tests)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.services import Services, open_services
from bot.updates import PerUserUpdateProcessor
from handlers.commands import set_commands
from handlers.staff import sync_staff_commands
from schedules import install_schedules
from schedules.dispatcher import Dispatcher

log = logging.getLogger(__name__)

POLLING_REMIND_EVERY = 60.0  # seconds between lines while getUpdates keeps failing


class PollingTrouble:
    """What python-telegram-bot calls when getUpdates fails (its retry loop then waits 1,
    1.5, 2.25... up to 30 seconds, and tries again by itself).

    Its default logs a traceback for every failed poll: during an outage of Telegram's,
    one every few seconds for as long as it lasts. Here: one WARNING line when polling
    starts failing, then one a minute while it keeps failing.
    """

    def __init__(self) -> None:
        self.failures = 0
        self._logged_at: float | None = None
        self._since_logged = 0

    def __call__(self, error: TelegramError) -> None:
        self.failures += 1
        self._since_logged += 1
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= POLLING_REMIND_EVERY:
            log.warning(
                "getUpdates failed (%s: %s); python-telegram-bot polls again by itself after "
                "a pause%s",
                type(error).__name__,
                error,
                f" ({self._since_logged} failed polls since the last such line)"
                if self._logged_at is not None
                else "",
            )
            self._logged_at, self._since_logged = now, 0


async def start_bot(application: Application, *, poll_timeout: int = 30) -> None:  # type: ignore[type-arg]
    """Connect (getMe), set the command menu, and start long polling."""
    await application.initialize()
    await set_commands(application.bot)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        timeout=poll_timeout,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
        error_callback=PollingTrouble(),
    )
    services: Services = application.bot_data["services"]
    dispatcher = Dispatcher(services, application.bot)
    application.bot_data["dispatcher"] = dispatcher
    processor = application.update_processor
    if isinstance(processor, PerUserUpdateProcessor):
        # An update arriving means Telegram answers getUpdates again: the outbox, if it
        # was waiting out an outage, asks at once instead of at the end of its pause.
        processor.listeners.append(dispatcher.heard_from_telegram)
    await dispatcher.start()
    install_schedules(application)
    # Staff menus after polling has started: the first answer does not wait for them.
    application.create_task(sync_staff_commands(application), name="sync-staff-menus")
    # The fast grid for point lookups is built in a thread after start-up: answers
    # are correct before it is ready, only slower.
    application.create_task(services.wards.warm(), name="warm-ward-index")


async def stop_bot(application: Application) -> None:  # type: ignore[type-arg]
    dispatcher: Dispatcher | None = application.bot_data.get("dispatcher")
    if dispatcher is not None:
        await dispatcher.stop()
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()


async def run(settings: Settings) -> None:
    """`wardvoice run`: poll until SIGINT or SIGTERM, then shut down cleanly."""
    settings.require_token()
    services = await open_services(settings)
    if len(services.wards) == 0:
        log.warning(
            "no wards imported: the bot will tell residents the area is not set up yet "
            "(import with: wardvoice import-wards FILE.geojson)"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    application = build_application(services)
    try:
        await start_bot(application)
        log.info("WardVoice is running with %d wards; press Ctrl+C to stop", len(services.wards))
        await stop.wait()
    finally:
        await stop_bot(application)
        await services.close()
