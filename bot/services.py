"""What handlers and jobs need, opened once per process and passed down explicitly."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain.directory import WardDirectory
from bot.geo.geocoding import GeocoderChain, build_geocoders
from storage.db import Database

log = logging.getLogger(__name__)


class Doorbell:
    """Wakes the outbox dispatcher as soon as something is queued (it also looks every
    second, so a forgotten ring only delays, never loses, a message)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    wards: WardDirectory
    geocoders: GeocoderChain
    outbox_bell: Doorbell = field(default_factory=Doorbell)

    async def close(self) -> None:
        await self.geocoders.aclose()
        await self.db.close()


async def open_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Open the database (migrating it), load the wards and set up the geocoders."""
    db = await Database.open(settings.db_path)
    try:
        wards = await WardDirectory.load(db)
        geocoders = build_geocoders(settings.geocoder, db)
    except BaseException:
        await db.close()
        raise
    log.info("loaded %d wards from %s", len(wards), settings.db_path)
    return Services(settings, db, clock or SystemClock(), wards, geocoders)
