"""A fake Nominatim server on 127.0.0.1 for geopy's real Nominatim client.

Geocoding is a slow public service (1 request a second by policy), so the bot must cope
with misses, errors and delays; this fake lets tests script all three while geopy's own
request building and response parsing stay in the loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from typing import Any

from aiohttp import web


def normalise(query: str) -> str:
    """The lookup key for a query: casefolded, whitespace collapsed, trimmed."""
    return re.sub(r"\s+", " ", query).strip().casefold()


class FakeNominatim:
    """Answers /search from `places`; /reverse always misses."""

    def __init__(self) -> None:
        self.places: dict[str, tuple[float, float, str]] = {}
        self.requests: list[dict[str, str]] = []
        self.fail_with: int | None = None
        self.delay: float = 0.0
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._port: int | None = None

    def add(self, query: str, lat: float, lon: float, display_name: str) -> None:
        """Register a place under the normalised form of `query`."""
        self.places[normalise(query)] = (lat, lon, display_name)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/search", self._search)
        app.router.add_get("/reverse", self._reverse)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def domain(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeNominatim.start() has not been awaited")
        return f"127.0.0.1:{self._port}"

    async def _answer_common(self, request: web.Request) -> web.Response | None:
        self.requests.append(dict(request.query))
        if self.delay > 0:
            try:  # a stop() ends the wait at once, so teardown never waits out the delay
                await asyncio.wait_for(self._stopping.wait(), self.delay)
            except TimeoutError:
                pass
        if self.fail_with is not None:
            return web.Response(status=self.fail_with, text="fake nominatim failure")
        return None

    async def _search(self, request: web.Request) -> web.Response:
        failed = await self._answer_common(request)
        if failed is not None:
            return failed
        query = request.query.get("q")
        if query is None:  # a structured query: street=..., city=..., postalcode=...
            parts = ("street", "city", "county", "state", "postalcode", "country")
            query = " ".join(request.query[p] for p in parts if p in request.query)
        lookup = {normalise(k): v for k, v in self.places.items()}
        found = lookup.get(normalise(query))
        limit = int(request.query.get("limit") or 10)
        results = [] if found is None or limit < 1 else [self._result(*found, request.query)]
        return web.json_response(results, dumps=json.dumps)

    async def _reverse(self, request: web.Request) -> web.Response:
        failed = await self._answer_common(request)
        if failed is not None:
            return failed
        return web.json_response({"error": "Unable to geocode"})

    def _result(self, lat: float, lon: float, display_name: str, query: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "place_id": zlib.crc32(f"{lat},{lon},{display_name}".encode()),
            "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
            "osm_type": "node",
            "osm_id": zlib.crc32(display_name.encode()),
            "lat": f"{lat:.7f}",
            "lon": f"{lon:.7f}",
            "display_name": display_name,
            "class": "place",
            "type": "suburb",
            "importance": 0.5,
            "boundingbox": [f"{lat - 0.01:.7f}", f"{lat + 0.01:.7f}",
                            f"{lon - 0.01:.7f}", f"{lon + 0.01:.7f}"],
        }  # fmt: skip
        if query.get("addressdetails") in ("1", "true", "True"):
            result["address"] = {"country": "United Kingdom", "country_code": "gb"}
        return result
