"""The wards in force, held in memory: the point index and the name search.

Built once at start-up from the database (an import by the CLI takes effect when the bot
restarts). Building runs in a thread so the event loop is never blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import shapely

from bot.geo.index import Placement, Ward, WardIndex
from bot.geo.names import NameMatch, WardNames
from storage import wards as ward_store
from storage.db import Database
from storage.wards import WardRow


class WardDirectory:
    def __init__(self, index: WardIndex, names: WardNames) -> None:
        self.index = index
        self.names = names

    @classmethod
    def from_rows(cls, rows: Sequence[WardRow]) -> WardDirectory:
        """CPU-bound: call through `asyncio.to_thread` from async code."""
        wards = [Ward(r.code, r.name, r.borough_code, r.borough_name) for r in rows]
        geometries = shapely.from_wkb([r.wkb for r in rows]) if rows else []
        index = WardIndex.build(wards, list(geometries)) if rows else WardIndex.empty()
        return cls(index, WardNames(wards))

    @classmethod
    async def load(cls, db: Database) -> WardDirectory:
        rows = await ward_store.load_active(db)
        return await asyncio.to_thread(cls.from_rows, rows)

    async def warm(self) -> None:
        await self.index.warm()

    def __len__(self) -> int:
        return len(self.index)

    def ward(self, code: str) -> Ward | None:
        return self.index.ward(code)

    def name_of(self, code: str) -> str:
        """A ward's name, or its code when the boundaries no longer have it."""
        ward = self.index.ward(code)
        return ward.name if ward is not None else code

    def place_name(self, code: str) -> str:
        """A ward's name, or a borough's (youth panels may be a borough's), or the code."""
        ward = self.index.ward(code)
        if ward is not None:
            return ward.name
        return next((w.borough_name for w in self.index.wards() if w.borough_code == code), code)

    def locate(self, lat: float, lon: float) -> Placement | None:
        return self.index.locate(lat, lon)

    def search_names(self, text: str, limit: int = 5) -> list[NameMatch]:
        return self.names.search(text, limit=limit)
