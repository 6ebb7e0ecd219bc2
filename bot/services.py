"""What handlers and jobs need, opened once per process and passed down explicitly."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain.directory import WardDirectory
from bot.geo.geocoding import GeocoderChain, build_geocoders
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    wards: WardDirectory
    geocoders: GeocoderChain

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
