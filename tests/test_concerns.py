"""Residents raise concerns, follow them, and nothing is lost: through the real bot."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.domain import concerns as domain
from handlers import callback_data as cb
from storage import concerns as concern_store
from storage import drafts as draft_store
from tests.conftest import Person, Reply, World
from tests.synthetic import SYNTHETIC_POINTS

REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")
TEXT = "Youths gathering by the bus shelter every night, shouting and breaking bottles."


async def _placed(world: World, ward: str = "E05900002") -> Person:
    resident = world.person()
    await resident.says(f"/start {ward}")
    return resident


async def _file(
    resident: Person,
    *,
    category: str = "Anti-social",
    text: str = TEXT,
    place: tuple[float, float] | None = None,
    photo: bool = False,
) -> Reply:
    """The whole conversation, as a resident taps through it; returns the review screen."""
    await resident.says("/concern")
    await resident.taps(category)
    await resident.says(text)
    if place is None:
        await resident.taps("Skip")
    else:
        await resident.shares_location(*place)
    if photo:
        return await resident.sends(resident.sim.photo())
    return await resident.taps("Skip")


def _ref(reply: Reply) -> str:
    match = REF.search(reply.text)
    assert match, reply.text
    return match.group(0)


async def test_resident_raises_a_concern_and_gets_a_reference(world: World) -> None:
    resident = await _placed(world)
    start = await resident.says("/concern")
    assert "What is your concern about?" in start.text
    labels = [b["text"] for b in start.buttons]
    for category in (
        "Anti-social behaviour",
        "Vandalism and graffiti",
        "Vehicle crime",
        "Drugs",
        "Burglary",
        "Noise",
        "Road safety",
        "Street environment",
        "Other",
    ):
        assert any(category in label for label in labels), category
    asked = await resident.taps("Noise")
    assert "never your name or Telegram account" in asked.text, "who sees what, before the text"
    await resident.says(TEXT)
    await resident.taps("Skip")
    review = await resident.taps("Skip")
    assert "Please check your concern" in review.text and TEXT in review.text
    assert "no exact place (filed under Kingsmead ward)" in review.text
    sent = await resident.taps("Send")
    ref = _ref(sent)
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None and concern.category == "noise" and concern.ward_code == "E05900002"
    assert concern.raised_by == resident.user_id and concern.status == "received"
    assert await draft_store.get(world.db, resident.user_id) is None


async def test_concern_with_a_place_is_filed_under_that_places_ward(world: World) -> None:
    resident = await _placed(world, "E05900002")
    lat, lon, code = SYNTHETIC_POINTS["inside_old_town"]
    review = await _file(resident, place=(lat, lon))
    assert "the location you shared, in Old Town ward" in review.text
    concern = await concern_store.by_ref(world.db, _ref(await resident.taps("Send")))
    assert concern is not None and concern.ward_code == code
    assert concern.lat == pytest.approx(lat)


async def test_photo_is_kept_as_telegrams_file_id(world: World) -> None:
    resident = await _placed(world)
    review = await _file(resident, photo=True)
    assert "Photo: yes" in review.text
    concern = await concern_store.by_ref(world.db, _ref(await resident.taps("Send")))
    assert concern is not None and concern.photo_file_id


@pytest.mark.parametrize(
    ("text", "answer"),
    [("too short", "at least 10 characters"), ("x" * 2001, "please keep it under 2000")],
)
async def test_text_outside_10_to_2000_characters_gets_a_clear_message(
    world: World, text: str, answer: str
) -> None:
    resident = await _placed(world)
    await resident.says("/concern")
    await resident.taps("Noise")
    reply = await resident.says(text)
    assert answer in reply.text
    fine = await resident.says(TEXT)
    assert "Where did it happen?" in fine.text


async def test_review_can_change_the_text_and_comes_back(world: World) -> None:
    resident = await _placed(world)
    await _file(resident)
    asked = await resident.taps("Change text")
    assert "What happened?" in asked.text
    review = await resident.says("Actually it is a car alarm going off every night at 3am.")
    assert "Please check your concern" in review.text and "car alarm" in review.text


async def test_cancel_works_at_every_step(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, flood_burst=1000)
    resident = await _placed(world)
    every_step = ["tap:Noise", TEXT, "tap:Skip", "tap:Skip"]
    for steps in (every_step[:n] for n in range(len(every_step) + 1)):
        await resident.says("/concern")
        for step in steps:
            if step.startswith("tap:"):
                await resident.taps(step[4:])
            else:
                await resident.says(step)
        cancelled = await resident.says("/cancel")
        assert "Cancelled. Nothing was sent." in cancelled.text
        assert await draft_store.get(world.db, resident.user_id) is None
    assert await concern_store.count_since(world.db, resident.user_id, "2000-01-01") == 0


async def test_resident_without_a_ward_finds_one_first(world: World) -> None:
    resident = world.person()
    reply = await resident.says("/concern")
    assert "First, let's find your ward" in reply.text and "Where do you live?" in reply.text


async def test_similar_open_concern_can_get_a_me_too_instead(world: World) -> None:
    first = await _placed(world)
    await _file(first)
    ref = _ref(await first.taps("Send"))
    neighbour = await _placed(world)
    review = await _file(neighbour, text="Same here: loud groups at the bus shelter late at night.")
    assert "Already raised close by" in review.text and ref in review.text
    joined = await neighbour.taps(f"Me too: {ref}")
    assert f"Your voice was added to {ref}: 2 people" in joined.text
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None and concern.supporters == 1
    listing = await neighbour.says("/myconcerns")
    assert ref in listing.text and "You said “me too”" in listing.text


async def test_myconcerns_lists_newest_first_pages_and_opens_history(
    make_world, synthetic_db
) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, max_concerns_per_day=10, flood_burst=1000)
    resident = await _placed(world)
    refs = []
    for n in range(7):
        await _file(resident, category="Other", text=f"Concern number {n}: a broken street light.")
        refs.append(_ref(await resident.taps("Send")))
    first = await resident.says("/myconcerns")
    assert "page 1 of 2" in first.text
    assert first.text.index(refs[6]) < first.text.index(refs[2])
    assert refs[1] not in first.text
    older = await resident.taps("Older ›")
    assert refs[1] in older.text and refs[0] in older.text
    concern = await concern_store.by_ref(world.db, refs[0])
    assert concern is not None
    await domain.change_status(world.db, world.clock, concern.id, "reviewed", by="tg:99")
    await domain.respond(
        world.db, world.clock, concern.id, "We have reported it to the council.", by="tg:99"
    )
    history = await resident.taps(f"Open {refs[0]}")
    assert "Received → Reviewed by the panel" in history.text
    assert "Answer: We have reported it to the council." in history.text


async def test_myconcerns_for_a_client_language_babel_does_not_know(world: World) -> None:
    """Regression (found by fuzzing): a modified client sent `language_code` "zz"; the date
    in /myconcerns went to Babel as locale "zz" and the handler raised UnknownLocaleError."""
    resident = world.person(language="zz")
    await resident.says("/start E05900002")
    await _file(resident)
    ref = _ref(await resident.taps("Send"))
    listing = await resident.says("/myconcerns")
    assert ref in listing.text
    assert re.search(r"Raised \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}", listing.text), listing.text


async def test_someone_elses_concern_cannot_be_opened_by_forged_button(world: World) -> None:
    owner = await _placed(world)
    await _file(owner)
    ref = _ref(await owner.taps("Send"))
    stranger = await _placed(world)
    reply = await stranger.presses(cb.MY_CONCERN_OPEN.build(ref=ref))
    assert reply.answers[0].params["text"] == "That concern is not one you follow."
    assert TEXT not in reply.text


async def test_daily_limit_is_polite(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, flood_burst=1000)
    resident = await _placed(world)
    for _ in range(5):
        await _file(resident)
        await resident.taps("Send")
    reply = await resident.says("/concern")
    assert "You have raised 5 concerns in the last 24 hours" in reply.text
    world.clock.advance(hours=24, seconds=1)
    again = await resident.says("/concern")
    assert "What is your concern about?" in again.text


async def test_html_in_a_concern_is_stored_as_written_and_escaped_when_shown(world: World) -> None:
    resident = await _placed(world)
    hostile = "<b>Bold</b> & <i>broken</i> *markdown* _here_ <script>x</script>"
    review = await _file(resident, text=hostile)
    assert hostile in review.text
    concern = await concern_store.by_ref(world.db, _ref(await resident.taps("Send")))
    assert concern is not None and concern.text == hostile


@pytest.mark.parametrize("kind", ["sticker", "voice", "document", "photo"])
async def test_files_where_text_is_expected_get_a_clear_prompt(world: World, kind: str) -> None:
    resident = await _placed(world)
    await resident.says("/concern")
    await resident.taps("Noise")
    reply = await resident.sends(getattr(resident.sim, kind)())
    assert "Please type what happened" in reply.text


async def test_text_where_a_button_is_expected_gets_a_prompt(world: World) -> None:
    resident = await _placed(world)
    await resident.says("/concern")
    reply = await resident.says("noise please")
    assert "Please tap one of the categories" in reply.text


async def test_double_tapped_send_files_once(world: World) -> None:
    resident = await _placed(world)
    await _file(resident)
    review = world.api.messages(resident.sim.chat_id)[-1]
    send = next(
        b["callback_data"]
        for row in review["reply_markup"]["inline_keyboard"]
        for b in row
        if "Send" in b["text"]
    )
    ids = [world.api.push_update(resident.sim.callback(send, message=review)) for _ in range(2)]
    await asyncio.gather(*(world.wait_handled(i) for i in ids))
    answers = [c.params.get("text") for c in world.api.calls if c.method == "answerCallbackQuery"]
    assert any(a and a.startswith("Already sent as WV-") for a in answers)
    rows = await world.db.fetchall(
        "SELECT ref FROM concerns WHERE raised_by = ?", (resident.user_id,)
    )
    assert len(rows) == 1


async def test_button_from_an_earlier_concern_changes_nothing(world: World) -> None:
    resident = await _placed(world)
    await resident.says("/concern")
    old = world.api.messages(resident.sim.chat_id)[-1]
    await resident.says("/cancel")
    await resident.says("/concern")
    old_noise = next(
        b["callback_data"]
        for row in old["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Noise"
    )
    reply = await resident.presses(old_noise, old)
    assert "earlier concern" in reply.answers[0].params["text"]
    draft = await draft_store.get(world.db, resident.user_id)
    assert draft is not None and draft.category is None and draft.step == "category"


async def test_half_written_concern_survives_a_restart(make_world, synthetic_db) -> None:  # type: ignore[no-untyped-def]
    first = await make_world(synthetic_db)
    resident = await _placed(first)
    await resident.says("/concern")
    await resident.taps("Drugs")
    await first.stop()
    second = await make_world(first.services.settings.db_path)
    resident.world = second
    reply = await resident.says("Dealing from a parked car outside the school gates.")
    assert "Where did it happen?" in reply.text
    await resident.taps("Skip")
    await resident.taps("Skip")
    sent = await resident.taps("Send")
    concern = await concern_store.by_ref(second.db, _ref(sent))
    assert concern is not None and concern.category == "drugs"


async def test_two_hundred_residents_filing_at_once_get_distinct_references(world: World) -> None:
    residents = [await _placed(world) for _ in range(200)]

    async def file_one(resident: Person) -> str:
        await _file(resident, text=f"Broken paving slab outside number {resident.user_id}.")
        return _ref(await resident.taps("Send"))

    refs = await asyncio.gather(*(file_one(r) for r in residents))
    assert len(set(refs)) == 200
    assert await world.db.fetchval("SELECT count(*) FROM concerns") == 200
    assert await world.db.fetchval("SELECT count(DISTINCT ref) FROM concerns") == 200


async def test_status_changes_follow_the_rules_and_are_kept_with_who_and_when(world: World) -> None:
    resident = await _placed(world)
    await _file(resident)
    concern = await concern_store.by_ref(world.db, _ref(await resident.taps("Send")))
    assert concern is not None
    assert (
        await domain.change_status(world.db, world.clock, concern.id, "priority", by="tg:7")
        == "received"
    )
    with pytest.raises(domain.RuleError):
        await domain.change_status(world.db, world.clock, concern.id, "reviewed", by="tg:7")
    world.clock.advance(days=3)
    await domain.change_status(world.db, world.clock, concern.id, "closed", by="tg:8")
    await domain.change_status(world.db, world.clock, concern.id, "reviewed", by="tg:8")
    events = await concern_store.events(world.db, concern.id)
    assert [(e.from_status, e.to_status, e.changed_by) for e in events] == [
        (None, "received", "resident"),
        ("received", "priority", "tg:7"),
        ("priority", "closed", "tg:8"),
        ("closed", "reviewed", "tg:8"),
    ]
    assert events[2].changed_at > events[1].changed_at


def test_references_are_easy_to_read_out() -> None:
    refs = {domain.new_ref() for _ in range(2000)}
    # 2,000 draws from 30^5 collide about once in twelve runs (the birthday paradox);
    # filing retries a taken reference, so a collision here is not a fault.
    assert len(refs) >= 1990
    assert all(REF.fullmatch(ref) for ref in refs)
    assert domain.normalise_ref("wv 7k2fq") == "WV-7K2FQ"
    assert domain.normalise_ref("WV-7K2F0") is None  # no zero: it reads as O


async def test_the_same_update_delivered_twice_files_once(world: World) -> None:
    """Telegram can deliver an update again (same update_id) after a lost confirmation."""
    resident = await _placed(world)
    await _file(resident)
    review = world.api.messages(resident.sim.chat_id)[-1]
    send = next(
        b["callback_data"]
        for row in review["reply_markup"]["inline_keyboard"]
        for b in row
        if "Send" in b["text"]
    )
    update = resident.sim.callback(send, message=review)
    first = world.api.push_update(update)
    await world.wait_handled(first)
    again = dict(update, update_id=first + 1000)  # a fresh delivery of the very same press
    await world.wait_handled(world.api.push_update(again))
    rows = await world.db.fetchall(
        "SELECT ref FROM concerns WHERE raised_by = ?", (resident.user_id,)
    )
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [
        ("received", "reviewed", True),
        ("received", "closed", True),
        ("reviewed", "priority", True),
        ("priority", "action", True),
        ("action", "reviewed", False),
        ("priority", "received", False),
        ("closed", "reviewed", True),
        ("closed", "action", False),
        ("received", "received", False),
        ("received", "deleted", False),
    ],
)
def test_status_moves_forward_and_a_closed_concern_reopens_only_for_review(
    current: str, wanted: str, allowed: bool
) -> None:
    assert domain.status_change_allowed(current, wanted) is allowed


async def test_resident_whose_prompt_was_lost_in_a_crash_gets_the_step_again_with_buttons(
    make_world,
    synthetic_db,  # type: ignore[no-untyped-def]
) -> None:
    """Regression: the draft moved to "place" but the prompt's send failed and the bot
    restarted; the resident was told to "tap Skip" with no Skip button anywhere."""
    first = await make_world(synthetic_db)
    resident = await _placed(first)
    await resident.says("/concern")
    await resident.taps("Noise")
    first.api.fail_next("sendMessage", status=502, description="Bad Gateway")
    await resident.says(TEXT)
    first.errors.clear()  # the failed send was seen by the error handler, as it should be
    await first.stop()
    second = await make_world(first.services.settings.db_path)
    resident.world = second
    again = await resident.says(TEXT)
    assert "Where did it happen?" in again.text
    assert any("Skip" in b["text"] for b in again.buttons)
    review = await resident.taps("Skip")
    assert "Would you like to add a photo?" in review.text


async def test_a_button_press_delivered_twice_is_not_an_error(world: World) -> None:
    """After a crash Telegram resends presses the bot had fetched: the second delivery
    changes nothing, and the resident gets no error message."""
    resident = await _placed(world)
    await resident.says("/concern")
    message = world.api.messages(resident.sim.chat_id)[-1]
    noise = next(
        b["callback_data"]
        for row in message["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Noise"
    )
    press = resident.sim.callback(noise, message=message)
    first = world.api.push_update(press)
    await world.wait_handled(first)
    await world.wait_handled(world.api.push_update(dict(press, update_id=first + 500)))
    draft = await draft_store.get(world.db, resident.user_id)
    assert draft is not None and draft.category == "noise" and draft.step == "text"
    assert not any("something went wrong" in (c.text or "") for c in world.api.calls)
