"""A resident finds their ward: on the synthetic ward set the suite builds itself."""

from __future__ import annotations

import pytest

from storage import residents as resident_store
from tests.conftest import World
from tests.synthetic import SYNTHETIC_POINTS


async def _ward_of(world: World, user_id: int) -> str | None:
    stored = await resident_store.get(world.db, user_id)
    assert stored is not None
    return stored.ward_code


async def test_new_resident_is_welcomed_and_offered_a_location_button(world: World) -> None:
    resident = world.person()
    reply = await resident.says("/start")
    assert "Welcome to WardVoice" in reply.text
    assert "Where do you live?" in reply.text
    keyboard = world.api.reply_keyboard(resident.sim.chat_id)
    assert keyboard and keyboard[0][0].get("request_location") is True


async def test_resident_who_shares_location_sees_their_ward(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    lat, lon, code = SYNTHETIC_POINTS["inside_kingsmead"]
    reply = await resident.shares_location(lat, lon)
    assert "You're in Kingsmead ward, Northbank." in reply.text
    assert "/priorities" in reply.text
    assert await _ward_of(world, resident.user_id) == code


async def test_resident_in_the_river_gets_the_nearest_ward_and_is_told_so(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    lat, lon, code = SYNTHETIC_POINTS["river_near_kingsmere"]
    reply = await resident.shares_location(lat, lon)
    assert "Kingsmere ward" in reply.text
    assert "just outside every ward" in reply.text and "78 m" in reply.text
    assert await _ward_of(world, resident.user_id) == code


@pytest.mark.parametrize("place", ["far_west_of_northgate", "far_away"])
async def test_resident_outside_every_ward_is_told_clearly(world: World, place: str) -> None:
    resident = world.person()
    await resident.says("/start")
    lat, lon, _ = SYNTHETIC_POINTS[place]
    reply = await resident.shares_location(lat, lon)
    assert "outside the area we cover" in reply.text
    assert await _ward_of(world, resident.user_id) is None


async def test_resident_who_types_a_postcode_gets_the_ward_from_the_offline_table(
    world: World,
) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("nb12bd")
    assert "Kingsmead ward, Northbank" in reply.text
    assert await _ward_of(world, resident.user_id) == "E05900002"
    assert world.nominatim.requests == [], "the offline table answered without the network"


async def test_postcode_without_a_ward_in_the_table_is_placed_from_its_point(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("SB9 9ZZ")  # mid-river, 111 m from Kingsmere and Marsh Lane
    assert "just outside every ward" in reply.text and "111 m away" in reply.text
    assert await _ward_of(world, resident.user_id) in ("E05900005", "E05900008")


async def test_unknown_postcode_is_asked_of_the_geocoder_then_refused(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("NB8 8XY")
    assert "I couldn't find the postcode NB8 8XY" in reply.text
    assert [r.get("q") for r in world.nominatim.requests] == ["NB8 8XY"]


async def test_postcode_the_geocoder_knows_is_placed(world: World) -> None:
    world.nominatim.add("NB7 7XY", 51.41, -0.155, "NB7 7XY, Old Town")
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("nb7 7xy")
    assert "Old Town ward, Southbank" in reply.text


async def test_half_a_postcode_asks_for_the_whole_one(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("NB1")
    assert "NB1 covers several wards" in reply.text


async def test_resident_who_misspells_a_ward_name_picks_from_buttons(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("kingsmeed")
    labels = [b["text"] for b in reply.buttons]
    assert "Kingsmead (Northbank)" in labels
    picked = await resident.taps("Kingsmead (Northbank)")
    assert "Kingsmead ward, Northbank" in picked.text
    assert await _ward_of(world, resident.user_id) == "E05900002"
    # The list message now shows the choice, without buttons.
    chosen = [m for m in world.api.messages(resident.sim.chat_id) if "✅" in m.get("text", "")]
    assert chosen and "reply_markup" not in chosen[-1]


async def test_ward_name_shared_by_two_boroughs_offers_both(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("abbey")
    labels = [b["text"] for b in reply.buttons]
    assert "Abbey (Northbank)" in labels and "Abbey (Southbank)" in labels


async def test_exact_unique_ward_name_is_taken_at_once(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("st mary's and riverside")
    assert "St Mary&#x27;s" not in reply.text
    assert "St Mary's & Riverside ward, Northbank" in reply.text


async def test_address_goes_to_the_geocoder_and_names_the_place_found(world: World) -> None:
    world.nominatim.add("1 High Street, Old Town", 51.41, -0.155, "1 High Street, Old Town")
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("1 High Street, Old Town")
    assert "I found: 1 High Street, Old Town" in reply.text
    assert "Old Town ward, Southbank" in reply.text


async def test_geocoder_down_tells_the_resident_to_use_a_postcode(world: World) -> None:
    world.nominatim.fail_with = 500
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("1 Nowhere Road")
    assert "can't look up addresses right now" in reply.text


async def test_resident_who_follows_a_poster_link_lands_on_that_ward(world: World) -> None:
    resident = world.person()
    reply = await resident.says("/start E05900011")
    assert "Old Town ward, Southbank" in reply.text
    stored = await resident_store.get(world.db, resident.user_id)
    assert stored is not None and stored.placed_by == "link" and not stored.finding_ward


async def test_stale_poster_link_says_so_and_asks_where_they_live(world: World) -> None:
    resident = world.person()
    reply = await resident.says("/start E05999999")
    assert "doesn't lead to a ward I know" in reply.text
    assert "Where do you live?" in reply.text


async def test_ward_command_shows_the_ward_and_changes_it(world: World) -> None:
    resident = world.person()
    await resident.says("/start E05900002")
    reply = await resident.says("/ward")
    assert "Your ward: Kingsmead ward, Northbank" in reply.text
    assert "from the link you followed" in reply.text
    change = await resident.taps("Change my ward")
    assert "Where do you live?" in change.text
    lat, lon, _ = SYNTHETIC_POINTS["inside_old_town"]
    moved = await resident.shares_location(lat, lon)
    assert "Your ward is now Old Town ward, Southbank (it was Kingsmead)" in moved.text
    assert await _ward_of(world, resident.user_id) == "E05900011"


async def test_resident_with_a_ward_who_types_text_is_pointed_to_the_commands(world: World) -> None:
    resident = world.person()
    await resident.says("/start E05900002")
    reply = await resident.says("thanks!")
    assert "To change your ward, send /ward." in reply.text
    assert await _ward_of(world, resident.user_id) == "E05900002"
    assert world.nominatim.requests == []


async def test_finding_state_survives_a_restart(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    """The resident asked /start, the bot restarted, their postcode still finds the ward."""
    first = await make_world(synthetic_db)
    resident = first.person()
    await resident.says("/start")
    await first.stop()
    second = await make_world(first.services.settings.db_path)
    resident.world = second
    reply = await resident.says("NB1 1AA")
    assert "Abbey ward, Northbank" in reply.text
