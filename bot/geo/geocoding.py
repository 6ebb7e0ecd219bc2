"""Postcodes and addresses to points: a chain of geocoders behind one interface.

The offline postcode table answers first (no network, no rate limit); the configured
geopy geocoder (Nominatim by default) answers what the table does not know. Public
geocoders are slow by policy (Nominatim: one request a second per application), so
requests go through geopy's `AsyncRateLimiter` and answers are cached.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from geopy import exc as geopy_exc
from geopy.adapters import AioHTTPAdapter
from geopy.extra.rate_limiter import AsyncRateLimiter
from geopy.geocoders import get_geocoder_for_service

from storage import postcodes as postcode_store
from storage.db import Database

log = logging.getLogger(__name__)

USER_AGENT = "WardVoice/0.1 (ward panel bot)"


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float
    source: str  # "postcode table" or the geocoder's name
    ward_code: str | None = None  # when the source knows the ward (the postcode table may)
    label: str | None = None  # the geocoder's name for the place


class GeocoderUnavailable(RuntimeError):
    """Every geocoder that could answer failed (network, quota, timeout).

    Not the same as "no match": the resident is told to try a postcode or a location.
    """


class GeocoderConfigError(ValueError):
    """`WARDVOICE_GEOCODER` names an unknown geocoder or options it does not take."""


class Geocoder(Protocol):
    name: str

    async def postcode(self, postcode: str) -> GeoPoint | None: ...

    async def address(self, text: str) -> GeoPoint | None: ...

    async def aclose(self) -> None: ...


class PostcodeTableGeocoder:
    """The offline table imported with `wardvoice import-postcodes`."""

    name = "postcode table"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def postcode(self, postcode: str) -> GeoPoint | None:
        found = await postcode_store.find(self._db, postcode)
        if found is None:
            return None
        return GeoPoint(found.lat, found.lon, self.name, ward_code=found.ward_code)

    async def address(self, text: str) -> GeoPoint | None:
        return None

    async def aclose(self) -> None:
        return None


class GeopyGeocoder:
    """Any geopy geocoder on its aiohttp adapter, rate-limited and cached."""

    CACHE_SIZE = 4096

    def __init__(
        self,
        service: str,
        options: dict[str, Any],
        *,
        min_delay: float = 1.0,
        query_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            cls = get_geocoder_for_service(service)
        except geopy_exc.GeocoderNotFound as err:
            raise GeocoderConfigError(f"unknown geocoder {service!r}") from err
        options = {"user_agent": USER_AGENT, "timeout": 5, **options}
        try:
            self._geocoder = cls(adapter_factory=AioHTTPAdapter, **options)
        except (TypeError, geopy_exc.ConfigurationError) as err:
            raise GeocoderConfigError(f"geocoder {service!r}: {err}") from err
        self.name = service
        self._entered = False
        self._query_options = query_options or {}
        self._geocode: Callable[..., Awaitable[Any]] = AsyncRateLimiter(
            self._geocoder.geocode,
            min_delay_seconds=min_delay,
            max_retries=0,
            swallow_exceptions=False,
        )
        self._cache: OrderedDict[str, GeoPoint | None] = OrderedDict()

    async def _lookup(self, query: str) -> GeoPoint | None:
        key = " ".join(query.casefold().split())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if not self._entered:
            await self._geocoder.__aenter__()
            self._entered = True
        try:
            location = await self._geocode(query, exactly_one=True, **self._query_options)
        except geopy_exc.GeocoderQueryError:
            location = None
        except geopy_exc.GeopyError as err:
            log.warning("geocoder %s failed: %s", self.name, type(err).__name__)
            raise GeocoderUnavailable(str(err)) from err
        point = (
            None
            if location is None
            else GeoPoint(location.latitude, location.longitude, self.name, label=location.address)
        )
        self._cache[key] = point
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return point

    async def postcode(self, postcode: str) -> GeoPoint | None:
        return await self._lookup(postcode)

    async def address(self, text: str) -> GeoPoint | None:
        return await self._lookup(text)

    async def aclose(self) -> None:
        if self._entered:
            self._entered = False
            await self._geocoder.__aexit__(None, None, None)


class GeocoderChain:
    """Ask each geocoder in turn; the first answer wins."""

    def __init__(self, geocoders: Sequence[Geocoder]) -> None:
        self.geocoders = list(geocoders)

    async def _ask(self, kind: str, text: str) -> GeoPoint | None:
        failure: GeocoderUnavailable | None = None
        for geocoder in self.geocoders:
            try:
                found = await getattr(geocoder, kind)(text)
            except GeocoderUnavailable as err:
                failure = err
                continue
            if found is not None:
                return found
        if failure is not None:
            raise failure
        return None

    async def postcode(self, postcode: str) -> GeoPoint | None:
        return await self._ask("postcode", postcode)

    async def address(self, text: str) -> GeoPoint | None:
        return await self._ask("address", text)

    @property
    def can_search_addresses(self) -> bool:
        return any(not isinstance(g, PostcodeTableGeocoder) for g in self.geocoders)

    async def aclose(self) -> None:
        for geocoder in self.geocoders:
            await geocoder.aclose()


def _option_value(value: str) -> Any:
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def parse_geocoder_setting(setting: str) -> tuple[str, dict[str, Any]] | None:
    """`nominatim:domain=127.0.0.1:8080,scheme=http` → ("nominatim", {...}); `none` → None."""
    setting = setting.strip()
    if setting.lower() in ("", "none", "off"):
        return None
    service, _, rest = setting.partition(":")
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise GeocoderConfigError(
                f"WARDVOICE_GEOCODER option {part!r} must look like key=value"
            )
        options[key.strip()] = _option_value(value.strip())
    return service.strip().lower(), options


def build_geocoders(setting: str, db: Database) -> GeocoderChain:
    """The chain the bot uses: the postcode table, then the configured geopy geocoder."""
    chain: list[Geocoder] = [PostcodeTableGeocoder(db)]
    parsed = parse_geocoder_setting(setting)
    if parsed is not None:
        service, options = parsed
        min_delay = float(options.pop("min_delay", 1.0))
        query_options: dict[str, Any] = {}
        if service == "nominatim":
            query_options["country_codes"] = options.pop("country_codes", "gb")
        chain.append(
            GeopyGeocoder(service, options, min_delay=min_delay, query_options=query_options)
        )
    return GeocoderChain(chain)
