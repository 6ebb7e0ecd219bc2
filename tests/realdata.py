"""Where the real ONS ward data lives, and what a test does when it is missing.

The real files sit beside the repository (<repo>/../shared/data) and are never
copied into it. A developer without them gets skips with the reason; CI sets
WARDVOICE_REQUIRE_SHARED_DATA=1 so that missing data fails instead of passing
quietly.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from bot.geo.boundaries import ParsedBoundaries, parse_ward_geojson
from bot.geo.index import WardIndex

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA: Path = (REPO.parent / "shared" / "data").resolve()
REQUIRE_ENV = "WARDVOICE_REQUIRE_SHARED_DATA"

LONDON_WARDS = "london_wards_2022_bsc.geojson"
ENGLAND_WALES_WARDS = "england_wales_wards_2022_bsc.geojson"
LONDON_POSTCODES = "london_postcodes_sample.csv"
LONDON_DISTRICTS = "london_postcode_districts.csv"


def require_shared_data() -> Path:
    """The shared data directory; skips the test if it is absent (fails if required)."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    reason = f"real ward data not found at {SHARED_DATA}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires it")
    pytest.skip(f"{reason} (set {REQUIRE_ENV}=1 to make this a failure)")


def shared_file(name: str) -> Path:
    """One file of the shared data; a missing file in a present directory is a failure."""
    path = require_shared_data() / name
    if not path.is_file():
        pytest.fail(f"{path} is missing from the shared data directory")
    return path


@functools.cache
def _parsed(name: str) -> ParsedBoundaries:
    return parse_ward_geojson(shared_file(name))


@functools.cache
def _index(name: str) -> WardIndex:
    index = _parsed(name).build_index()
    index.build_grid()
    return index


def london_wards() -> ParsedBoundaries:
    """The London wards, parsed once per test session."""
    return _parsed(LONDON_WARDS)


def england_wales_wards() -> ParsedBoundaries:
    """All England and Wales wards, parsed once per test session (about 0.3 s)."""
    return _parsed(ENGLAND_WALES_WARDS)


def london_index() -> WardIndex:
    """Index of the London wards with its grid built."""
    return _index(LONDON_WARDS)


def england_wales_index() -> WardIndex:
    """Index of all England and Wales wards with its grid built (about 1 s)."""
    return _index(ENGLAND_WALES_WARDS)
