"""Starting and stopping the bot (one path for `wardvoice run` and for the tests)."""

from __future__ import annotations

import asyncio
import logging
import signal

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.services import Services, open_services
from handlers.commands import set_commands
from handlers.staff import sync_staff_commands
from schedules import install_schedules
from schedules.dispatcher import Dispatcher

log = logging.getLogger(__name__)


async def start_bot(application: Application, *, poll_timeout: int = 30) -> None:  # type: ignore[type-arg]
    """Connect (getMe), set the command menu, and start long polling."""
    await application.initialize()
    await set_commands(application.bot)
    await sync_staff_commands(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        timeout=poll_timeout, allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
    )
    services: Services = application.bot_data["services"]
    dispatcher = Dispatcher(services, application.bot)
    application.bot_data["dispatcher"] = dispatcher
    await dispatcher.start()
    install_schedules(application)
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
