"""Finding a resident's ward from what they send: a point, a postcode, an address or a name.

Plain async functions with no Telegram in them: handlers parse the update, call one of
these, and render the answer. Every outcome is a value (`Found`, `Choices`, `NotFound`),
so each has a defined reply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock, to_iso
from bot.domain.directory import WardDirectory
from bot.geo.geocoding import GeocoderChain, GeocoderUnavailable
from bot.geo.index import Ward
from bot.geo.names import is_confident
from bot.geo.postcodes import looks_like_outcode, normalise_postcode
from storage import residents as resident_store
from storage.db import Database

MAX_QUERY_LENGTH = 200
CHOICES_LIMIT = 5


class How(StrEnum):
    """How a resident told us where they live (kept with their ward)."""

    LOCATION = "location"
    POSTCODE = "postcode"
    ADDRESS = "address"
    NAME = "name"
    LINK = "link"


class Miss(StrEnum):
    NO_WARDS = "no_wards"  # nothing imported yet
    OUTSIDE = "outside"  # a point farther than 250 m from every ward
    UNKNOWN_POSTCODE = "unknown_postcode"
    OUTCODE = "outcode"  # only the first half of a postcode
    NOTHING_MATCHED = "nothing_matched"
    GEOCODER_DOWN = "geocoder_down"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    BAD_POINT = "bad_point"  # not a valid latitude/longitude
    UNKNOWN_WARD = "unknown_ward"  # a ward code (deep link) we do not have


@dataclass(frozen=True)
class Found:
    ward: Ward
    how: How
    lat: float | None = None
    lon: float | None = None
    distance_m: float = 0.0  # > 0 when the point was just outside the ward
    label: str | None = None  # what the geocoder called the place


@dataclass(frozen=True)
class Choices:
    wards: list[Ward]


@dataclass(frozen=True)
class NotFound:
    reason: Miss
    query: str = ""


Answer = Found | Choices | NotFound


def find_by_point(
    directory: WardDirectory, lat: float, lon: float, how: How = How.LOCATION
) -> Found | NotFound:
    if len(directory) == 0:
        return NotFound(Miss.NO_WARDS)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return NotFound(Miss.BAD_POINT)
    placement = directory.locate(lat, lon)
    if placement is None:
        return NotFound(Miss.OUTSIDE)
    return Found(placement.ward, how, lat, lon, placement.distance_m)


def find_by_code(directory: WardDirectory, code: str) -> Found | NotFound:
    ward = directory.ward(code.strip().upper())
    if ward is None:
        return NotFound(Miss.UNKNOWN_WARD, code)
    return Found(ward, How.LINK)


async def _by_postcode(directory: WardDirectory, geocoders: GeocoderChain, postcode: str) -> Answer:
    try:
        point = await geocoders.postcode(postcode)
    except GeocoderUnavailable:
        return NotFound(Miss.GEOCODER_DOWN, postcode)
    if point is None:
        return NotFound(Miss.UNKNOWN_POSTCODE, postcode)
    # The postcode file's own ward (ONS) is more exact than generalised boundaries.
    if point.ward_code and (ward := directory.ward(point.ward_code)) is not None:
        return Found(ward, How.POSTCODE, point.lat, point.lon)
    found = find_by_point(directory, point.lat, point.lon, How.POSTCODE)
    return found if isinstance(found, Found) else NotFound(found.reason, postcode)


async def find_by_text(directory: WardDirectory, geocoders: GeocoderChain, text: str) -> Answer:
    """A postcode, a ward name (typos welcome) or an address, in that order of trust."""
    query = " ".join(text.split())
    if not query:
        return NotFound(Miss.EMPTY)
    if len(query) > MAX_QUERY_LENGTH:
        return NotFound(Miss.TOO_LONG)
    if len(directory) == 0:
        return NotFound(Miss.NO_WARDS)

    postcode = normalise_postcode(query)
    if postcode is not None:
        return await _by_postcode(directory, geocoders, postcode)
    outcode = looks_like_outcode(query)
    if outcode is not None:
        return NotFound(Miss.OUTCODE, outcode)

    matches = directory.search_names(query, limit=CHOICES_LIMIT)
    if is_confident(matches):
        best = matches[0]
        exact = [m for m in matches if m.score >= 100]
        if len(exact) == 1 and exact[0] is best:
            return Found(best.ward, How.NAME)
        return Choices([m.ward for m in matches])

    if geocoders.can_search_addresses:
        try:
            point = await geocoders.address(query)
        except GeocoderUnavailable:
            point = None
            if not matches:
                return NotFound(Miss.GEOCODER_DOWN, query)
        if point is not None:
            found = find_by_point(directory, point.lat, point.lon, How.ADDRESS)
            if isinstance(found, Found):
                return Found(
                    found.ward, How.ADDRESS, point.lat, point.lon, found.distance_m, point.label
                )
            if not matches:
                return NotFound(found.reason, query)
    if matches:
        return Choices([m.ward for m in matches])
    return NotFound(Miss.NOTHING_MATCHED, query)


async def place_resident(
    db: Database, clock: Clock, user_id: int, found: Found
) -> resident_store.Resident | None:
    """Make `found` the resident's ward, keeping the point they gave for future re-imports;
    returns the resident as now stored."""
    return await resident_store.set_ward(
        db, user_id, found.ward.code, found.how.value, found.lat, found.lon, to_iso(clock.now())
    )
