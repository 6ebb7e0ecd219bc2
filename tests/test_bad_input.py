"""Every kind of bad input the design lists gets a defined answer, and nothing breaks."""

from __future__ import annotations

import asyncio

import pytest

from handlers import callback_data as cb
from storage import residents as resident_store
from tests.conftest import World


async def test_unknown_command_points_to_help(world: World) -> None:
    resident = world.person()
    reply = await resident.says("/frobnicate now")
    assert "I don't know that command" in reply.text and "/help" in reply.text


async def test_help_lists_the_commands(world: World) -> None:
    reply = await world.person().says("/help")
    for command in ("/ward", "/priorities", "/start", "/help"):
        assert command in reply.text


@pytest.mark.parametrize("kind", ["sticker", "photo", "document", "voice", "contact"])
async def test_sticker_or_file_where_text_was_expected_gets_a_clear_prompt(
    world: World, kind: str
) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.sends(getattr(resident.sim, kind)())
    assert "I can only read text and shared locations here." in reply.text


async def test_edited_message_is_not_acted_on(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    await resident.says("nowhere at all")
    reply = await resident.sends(resident.sim.edited_message("NB1 1AA"))
    assert "I don't act on edited messages" in reply.text
    stored = await resident_store.get(world.db, resident.user_id)
    assert stored is not None and stored.ward_code is None


async def test_html_and_markdown_in_text_are_escaped_when_shown(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    hostile = '<b>bold</b> <a href="http://x">x</a> *md* & <script>'
    reply = await resident.says(hostile)
    # The person sees exactly what they typed; the fake Bot API would refuse stray tags.
    assert hostile in reply.text
    assert "&lt;script&gt;" in reply.html and "<script>" not in reply.html


async def test_overlong_text_is_refused_politely(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("x" * 4096)
    assert "longer than a place name or postcode" in reply.text
    assert world.nominatim.requests == []


async def test_blank_text_asks_for_a_postcode(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("   \u200b ")
    assert reply.text  # a defined answer, whatever the blank was
    stored = await resident_store.get(world.db, resident.user_id)
    assert stored is not None and stored.ward_code is None


async def test_control_characters_are_harmless(world: World) -> None:
    resident = world.person()
    await resident.says("/start")
    reply = await resident.says("NB1\x00\x07 1AA\x1b[31m")
    assert reply.text


@pytest.mark.parametrize(
    "data",
    [
        "ward:pick:E05900002 ",  # trailing space
        "ward:pick:E05900002\n",  # trailing newline ($ would have let it through)
        "ward:pick:e05900002",  # lower case
        "ward:pick:E0590000",  # too short
        "ward:pick:E05900002;DROP TABLE residents",
        "admin:grant:1",
        "",
        "x" * 64,
    ],
)
async def test_forged_button_is_refused_and_changes_nothing(world: World, data: str) -> None:
    resident = world.person()
    await resident.says("/start E05900011")
    reply = await resident.presses(data)
    assert [a.params.get("text") for a in reply.answers] == [
        "This button no longer works. Send /start to begin again."
    ]
    stored = await resident_store.get(world.db, resident.user_id)
    assert stored is not None and stored.ward_code == "E05900011"


async def test_button_for_a_ward_that_no_longer_exists_is_refused(world: World) -> None:
    resident = world.person()
    await resident.says("/start E05900011")
    reply = await resident.presses(cb.WARD_PICK.build(code="E05999999"))
    assert "no longer on the list" in reply.answers[0].params["text"]
    stored = await resident_store.get(world.db, resident.user_id)
    assert stored is not None and stored.ward_code == "E05900011"


async def test_old_ward_list_button_still_works_after_a_restart(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    first = await make_world(synthetic_db)
    resident = first.person()
    await resident.says("/start")
    await resident.says("abbey")
    await first.stop()
    second = await make_world(first.services.settings.db_path)
    resident.world = second
    reply = await resident.taps("Abbey (Southbank)")
    assert "Abbey ward, Southbank" in reply.text


async def test_group_chat_command_gets_a_private_chat_hint(world: World) -> None:
    resident = world.person()
    update = resident.sim.message("/start")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Residents"}
    calls_before = len(world.api.calls)
    update_id = world.api.push_update(update)
    await world.wait_handled(update_id)
    sent = [c for c in world.api.calls[calls_before:] if c.chat_id == -100123]
    assert sent and "private chats" in (sent[0].text or "")


async def test_poll_answer_and_chat_member_updates_are_ignored_quietly(world: World) -> None:
    resident = world.person()
    for update in (
        resident.sim.poll_answer("123", [0]),
        resident.sim.my_chat_member(blocked=False),
    ):
        update_id = world.api.push_update(update)
        await world.wait_handled(update_id)


async def test_fifty_messages_in_a_second_get_one_polite_notice(world: World) -> None:
    flooder, neighbour = world.person(), world.person()
    await flooder.says("/start E05900011")
    start = len(world.api.calls)
    ids = [world.api.push_update(flooder.sim.message("/help")) for _ in range(50)]
    calm = await neighbour.says("/start E05900002")
    await asyncio.gather(*(world.wait_handled(i) for i in ids))
    assert "Kingsmead ward" in calm.text, "everyone else is still served"
    to_flooder = [c for c in world.api.calls[start:] if c.chat_id == flooder.sim.chat_id]
    notices = [c for c in to_flooder if "faster than I can read" in (c.text or "")]
    assert len(notices) == 1
    burst = world.services.settings.flood_burst
    assert (
        len(to_flooder) == burst - 1 + 1
    )  # the burst minus the /start already sent, plus the notice


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/cancelmeeting ²", "Usage: /cancelmeeting ID"),
        ("/cancelmeeting 99999999999999999999", "Usage: /cancelmeeting ID"),
        ("/reword ² New title", "Usage: /reword ID"),
        ("/reword 99999999999999999999999 New title | x", "Usage: /reword ID"),
        ("/wedid #99999999999999999999 we fixed it", "Link the entry to a priority"),
        ("/wedid #² fixed the lights", "Link the entry to a priority"),
    ],
)
async def test_regression_a_typed_number_with_a_superscript_digit_or_twenty_digits_is_refused(
    world: World, command: str, answer: str
) -> None:
    """Found by the fuzzer: `"²".isdigit()` is true but `int("²")` fails, and a 20-digit id
    overflowed SQLite's integer; both reached the error handler."""
    from bot.domain.roles import Role
    from tests.staffing import join_as

    chair = await join_as(world, "E05900002", Role.PANEL_CHAIR)
    reply = await chair.says(command)
    assert answer in reply.text
    assert world.errors == []
