"""Residents find their ward in real London, through the real bot (data in ../shared/data)."""

from __future__ import annotations

import asyncio
import csv
import random

import pytest
import shapely

from bot.domain.priorities import add_priority, record_action
from storage import residents as resident_store
from storage import wards as ward_store
from tests.conftest import World
from tests.realdata import require_shared_data


@pytest.mark.parametrize(
    ("place", "lat", "lon", "ward", "borough"),
    [
        ("Trafalgar Square", 51.5080, -0.1281, "St James's", "Westminster"),
        ("Brixton tube", 51.4627, -0.1145, "Brixton Windrush", "Lambeth"),
        ("Tower of London", 51.5081, -0.0759, "St Katharine's & Wapping", "Tower Hamlets"),
        ("Wembley Stadium", 51.5560, -0.2796, "Wembley Park", "Brent"),
        ("Royal Observatory", 51.4769, -0.0005, "Greenwich Park", "Greenwich"),
    ],
)
async def test_resident_who_shares_location_sees_their_ward(
    london: World, place: str, lat: float, lon: float, ward: str, borough: str
) -> None:
    resident = london.person()
    await resident.says("/start")
    reply = await resident.shares_location(lat, lon)
    assert f"{ward} ward, {borough}" in reply.text, place
    stored = await resident_store.get(london.db, resident.user_id)
    assert stored is not None and stored.placed_by == "location"
    assert stored.lat == pytest.approx(lat) and stored.lon == pytest.approx(lon)


async def test_resident_in_manchester_is_told_it_is_outside_the_area(london: World) -> None:
    resident = london.person()
    await resident.says("/start")
    reply = await resident.shares_location(53.4794, -2.2453)
    assert "outside the area we cover" in reply.text
    stored = await resident_store.get(london.db, resident.user_id)
    assert stored is not None and stored.ward_code is None and stored.finding_ward


async def test_resident_who_types_a_postcode_in_any_spacing_gets_its_ward(london: World) -> None:
    resident = london.person()
    await resident.says("/start")
    reply = await resident.says("  br11ea ")
    assert "Bromley Town ward, Bromley" in reply.text
    stored = await resident_store.get(london.db, resident.user_id)
    assert stored is not None and stored.ward_code == "E05013991" and stored.placed_by == "postcode"


async def test_resident_who_misspells_their_ward_picks_it_from_buttons(london: World) -> None:
    resident = london.person()
    await resident.says("/start")
    reply = await resident.says("brixton windrsh")
    assert any("Brixton Windrush (Lambeth)" in b["text"] for b in reply.buttons)
    picked = await resident.taps("Brixton Windrush (Lambeth)")
    assert "Brixton Windrush ward, Lambeth" in picked.text
    stored = await resident_store.get(london.db, resident.user_id)
    assert stored is not None and stored.placed_by == "name"


async def test_resident_who_follows_a_poster_link_lands_on_that_ward(london: World) -> None:
    resident = london.person()
    reply = await resident.says("/start E05013806")
    assert "St James's ward, Westminster" in reply.text
    stored = await resident_store.get(london.db, resident.user_id)
    assert stored is not None and stored.ward_code == "E05013806" and stored.placed_by == "link"


async def test_resident_who_types_an_address_is_placed_through_the_geocoder(london: World) -> None:
    london.nominatim.add(
        "10 Downing Street, London", 51.50340, -0.12766, "10 Downing Street, London"
    )
    resident = london.person()
    await resident.says("/start")
    reply = await resident.says("10 Downing Street, London")
    assert "St James's ward, Westminster" in reply.text
    assert "I found: 10 Downing Street, London" in reply.text
    assert london.nominatim.requests, "the address went to the geocoder"


async def test_resident_sees_their_real_wards_priorities_with_latest_action(london: World) -> None:
    svc = london.services
    ids = []
    for title, category in [
        ("Drug dealing near the station", "drugs"),
        ("Speeding on Whitehall", "roads"),
        ("Graffiti in the underpass", "vandalism"),
    ]:
        p = await add_priority(
            svc.db, svc.clock, svc.wards, "E05013806", title, category, by="test"
        )
        ids.append(p.id)
    await record_action(
        svc.db, svc.clock, ids[1], "Two speed checks, 14 drivers stopped", by="test"
    )
    resident = london.person()
    await resident.says("/start E05013806")
    reply = await resident.says("/priorities")
    text = reply.text
    assert "What the St James's ward panel is working on" in text
    assert text.index("Drug dealing") < text.index("Speeding") < text.index("Graffiti")
    assert "Latest action (23 November 2026): Two speed checks, 14 drivers stopped" in text
    assert text.count("No action recorded yet.") == 2
    assert "A priority since 23 November 2026" in text


def _sample_rows() -> list[dict[str, str]]:
    path = require_shared_data() / "london_postcodes_sample.csv"
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


async def test_every_sample_postcode_gets_its_ward_by_location_and_by_postcode(
    london: World,
) -> None:
    """The goal: ≥ 99.5 % of the sample, asked both ways through the bot."""
    rows = _sample_rows()
    by_location = [(london.person(), row) for row in rows]
    by_postcode = [(london.person(), row) for row in rows]
    updates = [p.sim.location(float(r["lat"]), float(r["lon"])) for p, r in by_location]
    updates += [p.sim.message(r["postcode"]) for p, r in by_postcode]
    ids = [london.api.push_update(u) for u in updates]
    await asyncio.gather(*(london.wait_handled(i) for i in ids))

    async def share_right(pairs: list) -> float:
        right = 0
        for person, row in pairs:
            stored = await resident_store.get(london.db, person.user_id)
            right += stored is not None and stored.ward_code == row["WD22CD"]
        return right / len(pairs)

    location_share, postcode_share = await share_right(by_location), await share_right(by_postcode)
    assert location_share >= 0.995, location_share
    assert postcode_share >= 0.995, postcode_share


async def test_points_and_postcodes_not_in_the_file_get_the_ward_that_contains_them(
    london: World,
) -> None:
    """Random points inside random London wards, asked by location and by a postcode only
    the geocoder knows (the fake Nominatim): the ward that contains the point, ≥ 99.5 %."""
    rows = await ward_store.load_active(london.db)
    rng = random.Random(20221205)
    cases = []
    for n, row in enumerate(rng.sample(rows, 200)):
        geometry = shapely.from_wkb(row.wkb)
        west, south, east, north = geometry.bounds
        while True:
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            if geometry.contains(shapely.Point(lon, lat)):
                break
        postcode = f"ZE{n // 10 + 1} {n % 10}AB"  # Shetland-shaped: never in the London table
        london.nominatim.add(postcode, lat, lon, postcode)
        cases.append((row.code, lat, lon, postcode))
    by_location = [(london.person(), case) for case in cases]
    by_postcode = [(london.person(), case) for case in cases]
    updates = [p.sim.location(c[1], c[2]) for p, c in by_location]
    updates += [p.sim.message(c[3]) for p, c in by_postcode]
    ids = [london.api.push_update(u) for u in updates]
    await asyncio.gather(*(london.wait_handled(i) for i in ids))
    for pairs in (by_location, by_postcode):
        right = 0
        for person, (code, *_rest) in pairs:
            stored = await resident_store.get(london.db, person.user_id)
            right += stored is not None and stored.ward_code == code
        assert right / len(pairs) >= 0.995, right
