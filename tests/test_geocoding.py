"""The geocoder chain and its configuration."""

from __future__ import annotations

import pytest

from bot.geo.geocoding import (
    GeocoderConfigError,
    GeocoderUnavailable,
    GeopyGeocoder,
    build_geocoders,
    parse_geocoder_setting,
)
from storage import postcodes as postcode_store
from storage.db import Database
from tests.fakes.nominatim import FakeNominatim


def test_setting_names_a_geopy_service_with_options() -> None:
    assert parse_geocoder_setting("nominatim") == ("nominatim", {})
    assert parse_geocoder_setting("Nominatim:domain=127.0.0.1:8080, scheme=http,timeout=3") == (
        "nominatim",
        {"domain": "127.0.0.1:8080", "scheme": "http", "timeout": 3},
    )
    assert parse_geocoder_setting("none") is None
    assert parse_geocoder_setting("") is None


def test_bad_settings_are_refused_clearly() -> None:
    with pytest.raises(GeocoderConfigError, match="key=value"):
        parse_geocoder_setting("nominatim:domain")
    with pytest.raises(GeocoderConfigError, match="unknown geocoder"):
        GeopyGeocoder("no-such-geocoder", {})


async def test_postcode_table_answers_before_the_geocoder(
    db: Database, fake_nominatim: FakeNominatim
) -> None:
    await postcode_store.upsert_many(db, [("SE1 7PB", 51.5, -0.11, "E05000001")])
    fake_nominatim.add("SE1 7PB", 1.0, 1.0, "wrong")
    chain = build_geocoders(f"nominatim:domain={fake_nominatim.domain},scheme=http,min_delay=0", db)
    try:
        point = await chain.postcode("SE1 7PB")
        assert (
            point is not None
            and point.source == "postcode table"
            and point.ward_code == "E05000001"
        )
        assert fake_nominatim.requests == []
    finally:
        await chain.aclose()


async def test_geocoder_answers_are_cached_and_failures_are_not_no_match(
    db: Database, fake_nominatim: FakeNominatim
) -> None:
    fake_nominatim.add("1 High Street", 51.4, -0.1, "1 High Street, Somewhere")
    chain = build_geocoders(f"nominatim:domain={fake_nominatim.domain},scheme=http,min_delay=0", db)
    try:
        first = await chain.address("1 High Street")
        second = await chain.address("1  high street")
        assert first == second and first is not None and first.label == "1 High Street, Somewhere"
        assert len(fake_nominatim.requests) == 1
        assert fake_nominatim.requests[0].get("countrycodes") == "gb"
        assert await chain.address("Nowhere at all") is None
        fake_nominatim.fail_with = 503
        with pytest.raises(GeocoderUnavailable):
            await chain.address("2 High Street")
    finally:
        await chain.aclose()


async def test_offline_only_configuration_never_uses_the_network(db: Database) -> None:
    chain = build_geocoders("none", db)
    assert not chain.can_search_addresses
    assert await chain.address("1 High Street") is None
    assert await chain.postcode("SE1 7PB") is None
