"""Agenda votes: a panel asks its youth panel (or the ward's residents) what the next
meeting should talk about; the winners go on that meeting's agenda.

Through the real Application and the fake Bot API: who may vote (by button, forged data
or any other path), changing a ballot, double taps and duplicated updates, closing at its
time across a restart, closing early, ties, both ends of the item list, the results and
the chart, and a vote screen that fits a phone."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import re
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain import roles
from bot.domain import votes as vote_domain
from bot.domain.errors import RuleError
from bot.domain.roles import Role
from bot.render import Html
from bot.vote_text import buttons, screen
from handlers import callback_data as cb
from storage import votes as vote_store
from storage.votes import Vote, VoteItem
from tests.conftest import Person, Reply, World, WorldFactory
from tests.fakes.bot_api import Upload, parse_html
from tests.staffing import audit_actions, invite_code, join_as, refusals

KINGSMEAD, OLD_TOWN, KINGSMERE = "E05900002", "E05900011", "E05900005"
NORTHBANK = "E09900001"  # Kingsmead's and Kingsmere's borough
LONDON = ZoneInfo("Europe/London")
MEETING = "/meeting 2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open"
CHOICES = [
    "Bike racks at the school gate | so fewer bikes get stolen",
    "More street lights on Mill Lane",
    "Youth club open on Fridays | it shuts at 6 now",
]
NEWVOTE = "/newvote\n" + "\n".join(CHOICES)
DRAFT = re.compile(r"Draft vote #(\d+)")


# --- the scenario's people --------------------------------------------------------------------


async def panel_member(
    world: World, ward: str = KINGSMEAD, role: Role = Role.PANEL_MEMBER
) -> Person:
    """A panel member of `ward` whose panel has a meeting on Thursday 3 December, 19:00."""
    member = await join_as(world, ward, role)
    scheduled = await member.says(MEETING)
    assert "scheduled" in scheduled.text or "already has a meeting" in scheduled.text
    return member


async def young_person(world: World, scope: str = KINGSMEAD, lives_in: str = KINGSMEAD) -> Person:
    """Someone who joined a youth panel (a ward's or a borough's) with a school's code."""
    person = world.person()
    await person.says(f"/start {lives_in}")
    joined = await person.says(f"/join {await invite_code(world, scope, Role.YOUTH)}")
    assert "You are now a youth panel member" in joined.text
    return person


async def resident(world: World, ward: str = KINGSMEAD) -> Person:
    person = world.person()
    await person.says(f"/start {ward}")
    return person


async def draft(member: Person, text: str = NEWVOTE) -> tuple[int, Reply]:
    preview = await member.says(text)
    found = DRAFT.search(preview.text)
    assert found, preview.text
    return int(found.group(1)), preview


async def open_vote(world: World, member: Person, text: str = NEWVOTE, **settings: str) -> int:
    """Set up a vote (settings pressed as the buttons would), open it, deliver the notices."""
    vote_id, _ = await draft(member, text)
    for setting, value in settings.items():
        pressed = await member.presses(
            cb.VOTE_SET.build(id=str(vote_id), setting=setting, value=value)
        )
        assert not [a for a in pressed.answers if a.params.get("show_alert")], pressed.answers
    opened = await member.presses(cb.VOTE_OPEN.build(id=str(vote_id)))
    assert f"Vote #{vote_id} is open" in world.api.messages(member.user_id)[-1]["text"], opened
    await world.delivered()
    return vote_id


def ballot_message(world: World, person: Person, vote_id: int) -> dict | None:
    """The newest message in the person's chat that carries this vote's buttons."""
    for message in reversed(world.api.messages(person.user_id)):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                parsed = cb.VOTE_PICK.parse(button.get("callback_data"))
                if parsed and int(parsed["id"]) == vote_id:
                    return message
    return None


def shown(message: dict) -> str:
    return message["text"]


async def pick(world: World, person: Person, vote_id: int, number: int) -> Reply:
    """Tap number `number` on the person's ballot, as it shows now."""
    message = ballot_message(world, person, vote_id)
    assert message is not None, "no ballot in the chat"
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            parsed = cb.VOTE_PICK.parse(button["callback_data"])
            if parsed and int(parsed["position"]) == number:
                return await person.presses(button["callback_data"], message)
    raise AssertionError(f"no button {number}")


def alerts(reply: Reply) -> list[str]:
    return [a.params.get("text", "") for a in reply.answers if a.params.get("show_alert")]


async def db_picks(world: World, vote_id: int, person: Person) -> set[int]:
    return set(await vote_store.picks_of(world.db, vote_id, person.user_id))


async def move_to(world: World, when: datetime) -> dict[str, int]:
    world.clock.advance(seconds=(when - world.clock.now()).total_seconds())
    return await world.tick()


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def results_since(world: World, person: Person, since: int) -> list[str]:
    """The vote results the person was sent since a point in the Bot API log (a meeting
    reminder may arrive at the same moment: it is not counted)."""
    texts = [
        parse_html(c.text)[0] if c.params.get("parse_mode") == "HTML" else c.text
        for c in world.api.calls[since:]
        if c.method == "sendMessage" and c.chat_id == person.user_id and c.ok and c.text
    ]
    return [text for text in texts if "Vote results" in text]


# --- opening a vote ----------------------------------------------------------------------------


async def test_panel_member_opens_a_vote_and_only_the_wards_youth_panel_is_told(
    world: World,
) -> None:
    member = await panel_member(world)
    youth = [await young_person(world) for _ in range(3)]
    other_ward_youth = await young_person(world, OLD_TOWN, lives_in=OLD_TOWN)
    neighbour = await resident(world)

    vote_id, preview = await draft(member)
    text = preview.text
    assert "this is what voters will see" in text
    assert "Vote: what should the Kingsmead panel talk about?" in text
    assert "1 Bike racks at the school gate — so fewer bikes get stolen" in text
    assert "Who votes: the Kingsmead youth panel (3 people now)." in text
    assert "Each person picks up to 2; the top 2 go on the agenda." in text
    assert "Meeting: Thu 3 Dec, 19:00. Voting ends Wed 2 Dec, 19:00 (24 hours before)." in text
    await world.delivered()
    assert all(ballot_message(world, p, vote_id) is None for p in youth), "a draft tells nobody"

    await member.presses(cb.VOTE_OPEN.build(id=str(vote_id)))
    assert "Vote #1 is open. 3 people were told." in world.api.messages(member.user_id)[-1]["text"]
    await world.delivered()
    for person in youth:
        notice = ballot_message(world, person, vote_id)
        assert notice is not None
        seen = parse_html(shown(notice))[0]
        assert "For the meeting on Thu 3 Dec, 19:00. Voting ends Wed 2 Dec, 19:00." in seen
        assert "Pick up to 2." in seen
        assert "Tap a number to vote." in seen
        labels = [b["text"] for row in notice["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == ["1", "2", "3"]
    assert ballot_message(world, other_ward_youth, vote_id) is None
    assert ballot_message(world, neighbour, vote_id) is None
    assert "open_vote" in await audit_actions(world, "done")

    # A double tap on "Open" opens it once and tells nobody twice.
    again = await member.presses(cb.VOTE_OPEN.build(id=str(vote_id)))
    assert alerts(again) == ["Vote #1 is already open or closed."]
    await world.delivered()
    assert (
        sum(1 for m in world.api.messages(youth[0].user_id) if "Vote: what should" in m["text"])
        == 1
    )


async def test_settings_change_by_buttons_and_values_no_button_offers_are_refused(
    world: World,
) -> None:
    member = await panel_member(world)
    await member.says("/meeting 2026-12-17 19:00 | Kingsmead Library | open")
    vote_id, _ = await draft(member)
    vid = str(vote_id)

    async def press(setting: str, value: str) -> Reply:
        return await member.presses(cb.VOTE_SET.build(id=vid, setting=setting, value=value))

    await press("audience", "residents")
    await press("picks", "1")
    await press("places", "1")
    await press("close", "72")
    moved = await press("meeting", "2")
    text = parse_html(world.api.messages(member.user_id)[-1]["text"])[0]
    assert moved.answers and not alerts(moved)
    assert "Who votes: everyone living in Kingsmead ward" in text
    assert "Each person picks up to 1; the top 1 go on the agenda." in text
    assert "Meeting: Thu 17 Dec, 19:00. Voting ends Mon 14 Dec, 19:00 (72 hours before)." in text
    assert "For the meeting on Thu 17 Dec, 19:00. Voting ends Mon 14 Dec, 19:00.\nPick 1." in text

    for setting, value in [
        ("picks", "0"),
        ("picks", "4"),  # only 3 choices
        ("places", "3"),  # all of them on the agenda needs no vote
        ("close", "5"),  # not one of the offered closing times
        ("meeting", "99"),
        ("audience", "7"),
        ("picks", "ward_youth"),
    ]:
        refused = await press(setting, value)
        assert alerts(refused) == ["That setting is not possible for this vote."], (setting, value)
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None
    assert (vote.audience, vote.picks, vote.places, vote.close_hours, vote.meeting_id) == (
        "residents",
        1,
        1,
        72,
        2,
    )


async def test_item_list_at_both_limits(world: World) -> None:
    member = await panel_member(world)
    two = await member.says("/newvote\nSkate park\nFootball pitch lights")
    assert "Draft vote #1" in two.text and "1 Skate park" in two.text
    ten = "\n".join(f"{n}. Idea number {n} | why {n}" for n in range(1, 11))
    tenth = await member.says(f"/newvote\n{ten}")
    assert "Draft vote #2" in tenth.text and "10 Idea number 10 — why 10" in tenth.text
    labels = [b["text"] for b in tenth.buttons if cb.VOTE_SET.parse(b["callback_data"]) is None]
    assert labels[:2] == ["🗳 Open the vote", "Discard"]

    one = await member.says("/newvote\nSkate park")
    assert "A vote needs 2 to 10 choices; this has 1." in one.text
    eleven = "\n".join(f"Idea number {n}" for n in range(1, 12))
    assert "this has 11" in (await member.says(f"/newvote\n{eleven}")).text
    long_title = await member.says("/newvote\n" + "x" * (vote_domain.TITLE_MAX + 1) + "\nShort one")
    assert "Each choice needs a title of 3 to 32 characters" in long_title.text
    long_detail = await member.says(
        "/newvote\nSkate park | " + "y" * (vote_domain.DETAIL_MAX + 1) + "\nPitch lights"
    )
    assert "Keep each explanation to 50 characters" in long_detail.text
    twice = await member.says("/newvote\nSkate park\nskate park")
    assert "in the list twice" in twice.text
    assert [v.id for v in await vote_store.of_ward(world.db, KINGSMEAD, closed_since="")] == [2, 1]


async def test_a_vote_needs_a_coming_meeting(world: World) -> None:
    member = await join_as(world, KINGSMEAD, Role.PANEL_MEMBER)
    refused = await member.says(NEWVOTE)
    assert "Schedule it first with /meeting" in refused.text
    assert await vote_store.of_ward(world.db, KINGSMEAD, closed_since="") == []


async def test_nobody_without_the_panel_role_for_that_ward_can_set_up_or_run_a_vote(
    world: World,
) -> None:
    member = await panel_member(world)
    vote_id, _ = await draft(member)
    vid = str(vote_id)
    outsiders = [
        await young_person(world),
        await resident(world),
        await panel_member(world, OLD_TOWN),
    ]
    before = await refusals(world)
    for person in outsiders[:2]:
        typed = await person.says(NEWVOTE)
        assert "Sorry, you can't do that for this ward." in typed.text
    for person in outsiders:
        for data in [
            cb.VOTE_SET.build(id=vid, setting="audience", value="residents"),
            cb.VOTE_OPEN.build(id=vid),
            cb.VOTE_DISCARD.build(id=vid),
            cb.VOTE_DRAFT.build(id=vid),
            cb.VOTE_CLOSE_ASK.build(id=vid),
            cb.VOTE_CLOSE.build(id=vid),
            cb.VOTE_CHART.build(id=vid),
            cb.STAFF_VOTES.build(code=KINGSMEAD),
        ]:
            pressed = await person.presses(data)
            assert alerts(pressed) == ["Sorry, you can't do that for this ward."], data
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None and vote.state == "draft" and vote.audience == "ward_youth"
    assert await refusals(world) - before == 2 + 3 * 8
    # The Old Town member's own /newvote is for Old Town, the ward they work on.
    typed = await outsiders[2].says(NEWVOTE)
    assert "what should the Old Town panel talk about?" in typed.text


async def test_discarded_draft_tells_nobody_and_its_buttons_stop_working(world: World) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    vote_id, _ = await draft(member)
    await member.presses(cb.VOTE_DISCARD.build(id=str(vote_id)))
    assert "discarded; nobody was told" in world.api.messages(member.user_id)[-1]["text"]
    late = await member.presses(cb.VOTE_OPEN.build(id=str(vote_id)))
    assert alerts(late) == [f"There is no vote #{vote_id}."]
    await world.delivered()
    assert ballot_message(world, young, vote_id) is None


# --- voting -----------------------------------------------------------------------------------


async def test_young_person_votes_changes_their_mind_and_sees_what_they_chose(
    world: World,
) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    vote_id = await open_vote(world, member)  # up to 2 picks

    first = await pick(world, young, vote_id, 1)
    assert [a.params.get("text") for a in first.answers] == ["Saved: you picked 1."]
    notice = ballot_message(world, young, vote_id)
    assert notice is not None
    seen = parse_html(shown(notice))[0]
    assert "✅ 1 Bike racks at the school gate" in seen
    assert "You picked 1. Tap a number to add or remove it." in seen
    labels = [b["text"] for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["✅ 1", "2", "3"]

    await pick(world, young, vote_id, 3)
    assert await db_picks(world, vote_id, young) == {1, 3}
    too_many = await pick(world, young, vote_id, 2)
    assert alerts(too_many) == ["You can pick up to 2. Tap one of yours to remove it first."]
    await pick(world, young, vote_id, 1)  # ✅ 1: removes it
    await pick(world, young, vote_id, 2)
    assert await db_picks(world, vote_id, young) == {2, 3}
    assert await vote_store.ballot_count(world.db, vote_id) == 1

    # /vote shows the same ballot, with the picks ticked.
    listed = await young.says("/vote")
    assert "✅ 2 More street lights on Mill Lane" in listed.text
    assert "You picked 2, 3." in listed.text


async def test_with_one_pick_each_tapping_another_number_moves_the_vote(world: World) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    vote_id = await open_vote(world, member, picks="1", places="1")
    await pick(world, young, vote_id, 2)
    moved = await pick(world, young, vote_id, 3)
    assert [a.params.get("text") for a in moved.answers] == ["Saved: you picked 3."]
    assert await db_picks(world, vote_id, young) == {3}
    assert (
        "You picked 3. Tap another number to change."
        in parse_html(shown(ballot_message(world, young, vote_id) or {}))[0]
    )


async def test_double_taps_and_a_duplicated_update_count_one_ballot(world: World) -> None:
    member = await panel_member(world)
    young = [await young_person(world) for _ in range(5)]
    vote_id = await open_vote(world, member)
    data = cb.VOTE_PICK.build(id=str(vote_id), position="2", chosen="1")
    for person in young:
        message = ballot_message(world, person, vote_id)
        assert message is not None
        # Telegram resends an update a crashed bot fetched but did not confirm: same id.
        update = person.sim.callback(data, message=message)
        twin = copy.deepcopy(update)
        update_id = world.api.push_update(update)
        twin["update_id"] = update_id
        world.api.push_update(twin)
        # And two quick taps on the same button (updates of one person run in order, so
        # when these are answered the twins have been handled too).
        await asyncio.gather(person.presses(data, message), person.presses(data, message))
        await world.wait_handled(update_id)
    for person in young:
        assert await db_picks(world, vote_id, person) == {2}
    assert await vote_store.ballot_count(world.db, vote_id) == 5
    assert await vote_store.tally(world.db, vote_id) == {1: 0, 2: 5, 3: 0}


async def test_many_young_people_voting_at_once_are_each_counted_once(world: World) -> None:
    member = await panel_member(world)
    young = list(await asyncio.gather(*(young_person(world) for _ in range(60))))
    vote_id = await open_vote(world, member)
    expected = {1: 0, 2: 0, 3: 0}

    async def vote(n: int, person: Person) -> None:
        first, second = 1 + n % 3, 1 + (n + 1) % 3
        await pick(world, person, vote_id, first)
        if n % 2:
            await pick(world, person, vote_id, second)

    for n in range(len(young)):
        expected[1 + n % 3] += 1
        if n % 2:
            expected[1 + (n + 1) % 3] += 1
    await asyncio.gather(*(vote(n, p) for n, p in enumerate(young)))
    assert await vote_store.tally(world.db, vote_id) == expected
    assert await vote_store.ballot_count(world.db, vote_id) == 60


# --- who may vote -------------------------------------------------------------------------------


async def test_nobody_outside_the_audience_can_vote_by_button_or_forged_data(
    world: World,
) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    neighbour = await resident(world)
    other_youth = await young_person(world, OLD_TOWN, lives_in=OLD_TOWN)
    vote_id = await open_vote(world, member)
    before = await refusals(world)

    # They forge the button a young person has (they cannot see one of their own).
    for person in (neighbour, other_youth, member):
        for number in (1, 2, 3):
            data = cb.VOTE_PICK.build(id=str(vote_id), position=str(number), chosen="1")
            refused = await person.presses(data)
            assert alerts(refused) == ["This vote isn't open to you."]
        assert "There's no vote open for you right now." in (await person.says("/vote")).text
    assert await vote_store.ballot_count(world.db, vote_id) == 0
    assert await refusals(world) - before == 9
    assert "vote" in await audit_actions(world, "refused")

    # Data no ballot ever carries: another item number, another vote, garbage.
    for data in [f"vote:{vote_id}:9:1", f"vote:{vote_id + 7}:1:1", f"vote:{vote_id}:1:2"]:
        refused = await young.presses(data)
        assert refused.answers and not await db_picks(world, vote_id, young)


async def test_a_boroughs_youth_panel_includes_its_wards_youth_panels(world: World) -> None:
    member = await panel_member(world)
    borough_youth = await young_person(world, NORTHBANK)
    joined = [m["text"] for m in world.api.messages(borough_youth.user_id)]
    assert any("You are now a youth panel member for Northbank." in text for text in joined)
    assert any("vote with /vote" in text for text in joined)
    kingsmere_youth = await young_person(world, KINGSMERE, lives_in=KINGSMERE)
    southbank_youth = await young_person(world, OLD_TOWN, lives_in=OLD_TOWN)
    vote_id = await open_vote(world, member, audience="borough_youth")
    assert ballot_message(world, borough_youth, vote_id) is not None
    assert ballot_message(world, kingsmere_youth, vote_id) is not None
    assert ballot_message(world, southbank_youth, vote_id) is None
    await pick(world, borough_youth, vote_id, 1)
    await pick(world, kingsmere_youth, vote_id, 1)
    refused = await southbank_youth.presses(
        cb.VOTE_PICK.build(id=str(vote_id), position="1", chosen="1")
    )
    assert alerts(refused) == ["This vote isn't open to you."]
    assert await vote_store.ballot_count(world.db, vote_id) == 2


async def test_a_residents_vote_is_for_those_who_lived_in_the_ward_when_it_opened(
    world: World,
) -> None:
    member = await panel_member(world)
    neighbour = await resident(world)
    elsewhere = await resident(world, OLD_TOWN)
    vote_id = await open_vote(world, member, audience="residents")
    assert ballot_message(world, neighbour, vote_id) is not None
    assert ballot_message(world, elsewhere, vote_id) is None
    saved = await pick(world, neighbour, vote_id, 2)
    assert not alerts(saved)

    # Hopping into the ward after it opened does not give a vote.
    world.clock.advance(minutes=5)
    await elsewhere.says(f"/start {KINGSMEAD}")
    hopped = await elsewhere.presses(cb.VOTE_PICK.build(id=str(vote_id), position="1", chosen="1"))
    assert alerts(hopped) == [
        "You chose this ward after the vote started, so this one isn't yours. "
        "You can vote in the next one."
    ]
    assert await vote_store.voters_of(world.db, vote_id) == [neighbour.user_id]


# --- closing, results, the agenda -------------------------------------------------------------


async def test_vote_closes_at_its_time_and_results_go_to_panel_and_voters(
    world: World,
) -> None:
    member = await panel_member(world)
    chair = await join_as(world, KINGSMEAD, Role.PANEL_CHAIR)
    young = [await young_person(world) for _ in range(5)]
    vote_id = await open_vote(world, member)  # 2 picks, top 2 on the agenda
    for person, numbers in zip(young, [(1, 2), (1,), (1, 3), (2,), ()], strict=True):
        for number in numbers:
            await pick(world, person, vote_id, number)

    # Ballots stop at the closing moment itself, before any job has run.
    world.clock.advance(seconds=(london("2026-12-02T19:00") - world.clock.now()).total_seconds())
    late = await pick(world, young[4], vote_id, 3)
    assert alerts(late) == ["Voting has ended."]
    notice = ballot_message(world, young[4], vote_id)
    assert notice is None, "the ballot lost its buttons"

    since = len(world.api.calls)
    report = await world.tick()
    assert report["votes"] > 0
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None and vote.state == "closed" and vote.closed_by == "schedule"
    assert (vote.voters, vote.eligible) == (4, 5)
    assert [(i.votes, i.won) for i in vote.items] == [(3, True), (2, True), (1, False)]

    [for_panel] = results_since(world, chair, since)
    assert "Vote results: Kingsmead panel" in for_panel
    assert "✅ Bike racks at the school gate: 3 votes, on the agenda" in for_panel
    assert "✅ More street lights on Mill Lane: 2 votes, on the agenda" in for_panel
    assert "▫️ Youth club open on Fridays: 1 vote" in for_panel
    assert "Turnout: 4 of 5 people who could vote (80%)." in for_panel
    assert "They go on the agenda of the meeting on Thu 3 Dec, 19:00." in for_panel
    assert "Tap 📊 for a chart" in for_panel
    assert results_since(world, member, since) == [for_panel]
    for person in young[:4]:
        [told] = results_since(world, person, since)
        assert "Turnout: 4 of 5" in told and "📊" not in told
    assert results_since(world, young[4], since) == [], "only those who voted hear"

    meetings = (await young[0].says("/meetings")).text
    assert "On the agenda:\n• Bike racks at the school gate (chosen in a vote)\n" in meetings
    assert "• More street lights on Mill Lane (chosen in a vote)" in meetings
    assert "Youth club" not in meetings

    # The next wake-up sends nothing again.
    since = len(world.api.calls)
    assert (await world.tick())["votes"] == 0
    assert results_since(world, chair, since) == []


async def test_a_tie_at_the_last_place_puts_every_tied_item_on_the_agenda(world: World) -> None:
    member = await panel_member(world)
    young = [await young_person(world) for _ in range(4)]
    vote_id = await open_vote(world, member, picks="1", places="1")
    for person, number in zip(young, [1, 2, 1, 2], strict=True):
        await pick(world, person, vote_id, number)
    since = len(world.api.calls)
    await move_to(world, london("2026-12-02T19:00"))
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None
    assert [i.won for i in vote.items] == [True, True, False]
    [told] = results_since(world, young[0], since)
    assert "It was a tie, so every tied item goes on the agenda." in told
    agenda = (await member.says("/meetings")).text
    assert "• Bike racks at the school gate (chosen in a vote)" in agenda
    assert "• More street lights on Mill Lane (chosen in a vote)" in agenda


def a_vote(items: list[VoteItem], **fields: object) -> Vote:
    """A vote record built in memory, for the pure rules and the rendering."""
    base = Vote(
        id=1,
        ward_code=KINGSMEAD,
        borough_code=NORTHBANK,
        meeting_id=1,
        audience="ward_youth",
        picks=1,
        places=1,
        close_hours=24,
        closes_at=None,
        state="closed",
        created_by="tg:1",
        opened_at=None,
        closed_at=None,
        closed_by=None,
        eligible=None,
        voters=None,
        published_at=None,
        items=tuple(items),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def test_winners_take_the_places_ties_and_never_an_item_nobody_picked() -> None:
    def vote(counts: list[int], places: int) -> Vote:
        items = [VoteItem(n, f"item {n}", None, c) for n, c in enumerate(counts, start=1)]
        return a_vote(items, places=places)

    assert vote_domain.winners(vote([5, 3, 1], 2)) == ([1, 2], False)
    assert vote_domain.winners(vote([5, 3, 3], 2)) == ([1, 2, 3], True)
    assert vote_domain.winners(vote([2, 2, 2], 1)) == ([1, 2, 3], True)
    assert vote_domain.winners(vote([4, 0, 0], 2)) == ([1], False)
    assert vote_domain.winners(vote([0, 0, 0], 2)) == ([], False)
    assert vote_domain.winners(vote([1, 7, 7, 3], 1)) == ([2, 3], True)


async def test_nobody_voted_so_nothing_goes_on_the_agenda(world: World) -> None:
    member = await panel_member(world)
    await young_person(world)
    await open_vote(world, member)
    since = len(world.api.calls)
    await move_to(world, london("2026-12-02T19:05"))
    [told] = results_since(world, member, since)
    assert "Nobody voted, so nothing was added to the agenda." in told
    assert "Turnout: 0 of 1 people who could vote (0%)." in told
    assert "On the agenda" not in (await member.says("/meetings")).text


async def test_vote_whose_time_passed_while_the_bot_was_down_closes_at_start_up(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    first = await make_world(synthetic_db)
    member = await panel_member(first)
    young = [await young_person(first) for _ in range(3)]
    vote_id = await open_vote(first, member)
    for person in young[:2]:
        await pick(first, person, vote_id, 3)
    await first.stop()

    since = len(first.api.calls)
    second = await make_world(first.services.settings.db_path)
    # Nothing was awaited since start-up: the JobQueue's first wake has not run yet, and
    # sees the clock two hours after the vote's closing time.
    second.clock.advance(seconds=(london("2026-12-02T21:00") - second.clock.now()).total_seconds())
    async with asyncio.timeout(60):  # the goal: closed and results sent within a minute
        while (vote := await vote_store.get(second.db, vote_id)) is None or (  # noqa: ASYNC110 - the database has no event to wait on
            vote.published_at is None
        ):
            await asyncio.sleep(0.05)
    await second.delivered()
    assert vote.state == "closed" and vote.closed_by == "schedule"
    assert [i.votes for i in vote.items] == [0, 0, 2]
    chair_texts = results_since(second, member, since)
    assert len(chair_texts) == 1 and "✅ Youth club open on Fridays: 2 votes" in chair_texts[0]
    for person in young[:2]:
        assert len(results_since(second, person, since)) == 1


async def test_chair_closes_a_vote_early_and_the_panel_gets_a_chart(world: World) -> None:
    member = await panel_member(world)
    young = [await young_person(world) for _ in range(3)]
    vote_id = await open_vote(world, member)
    await pick(world, young[0], vote_id, 2)
    await pick(world, young[1], vote_id, 2)

    listed = await member.says("/newvote")
    assert f"#{vote_id} open · 2 voted so far · ends Wed 2 Dec, 19:00" in listed.text
    asked = await member.taps(f"Close #{vote_id} now")
    assert "Close vote #1 now? Nobody can vote after that" in asked.text
    since = len(world.api.calls)
    await member.taps("Yes, close it now")
    await world.delivered()
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None and vote.state == "closed" and vote.closed_by == f"tg:{member.user_id}"
    [results] = results_since(world, member, since)[-1:]
    assert "✅ More street lights on Mill Lane: 2 votes, on the agenda" in results
    late = await pick(world, young[2], vote_id, 1)
    assert alerts(late) == ["Voting has ended."]
    assert "close_vote" in await audit_actions(world, "done")

    charted = await member.taps("📊")
    [photo] = [c for c in charted.calls if c.method == "sendPhoto" and c.ok]
    upload = photo.params["photo"]
    assert isinstance(upload, Upload) and upload.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert "Vote #1 results for Kingsmead: 2 of 3 voted (67%)." in (photo.text or "")
    twice = await member.presses(cb.VOTE_CLOSE.build(id=str(vote_id)))
    assert alerts(twice) == ["Vote #1 has already closed."]
    # The youth panel never gets the chart: it is the panel's.
    refused = await young[0].presses(cb.VOTE_CHART.build(id=str(vote_id)))
    assert alerts(refused) == ["Sorry, you can't do that for this ward."]


async def test_results_wait_for_the_close_even_for_the_panel(world: World) -> None:
    member = await panel_member(world)
    vote_id = await open_vote(world, member)
    early = await member.presses(cb.VOTE_CHART.build(id=str(vote_id)))
    assert alerts(early) == ["The results of vote #1 are shown when it closes."]


async def test_a_cancelled_meeting_passes_the_winners_to_the_next_one(world: World) -> None:
    member = await panel_member(world)
    await member.says("/meeting 2026-12-17 19:00 | Kingsmead Library | open")
    young = await young_person(world)
    vote_id = await open_vote(world, member)
    await pick(world, young, vote_id, 1)
    await member.says("/cancelmeeting 1")
    await move_to(world, london("2026-12-02T19:00"))
    agenda = (await member.says("/meetings")).text
    assert "Thursday, 17 December 2026, 19:00" in agenda
    assert "• Bike racks at the school gate (chosen in a vote)" in agenda


async def test_someone_with_no_vote_is_pointed_to_the_youth_panel_and_latest_results(
    world: World,
) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    neighbour = await resident(world)
    vote_id = await open_vote(world, member)
    await pick(world, young, vote_id, 3)
    await move_to(world, london("2026-12-02T19:00"))
    told = (await neighbour.says("/vote")).text
    assert "There's no vote open for you right now." in told
    assert "Send /join and the code." in told
    assert "Latest vote in Kingsmead: on the agenda now: Youth club open on Fridays." in told


# --- the screen ------------------------------------------------------------------------------


def _phone_lines(text: Html, button_rows: int) -> float:
    """How tall a message is on the most common phone size (390 × 844 points), in lines of
    chat text: about 34 characters of 17-point text fit a message bubble's line, and a row
    of inline buttons is about as tall as two and a half lines."""
    plain = parse_html(text)[0]
    lines = sum(max(1, len(textwrap.wrap(line, 34))) for line in plain.split("\n"))
    return lines + 2.5 * button_rows


# About 30 lines of text fit between the status bar and the message box of a 844-point
# screen; the budget leaves room for the chat's own date header.
SCREEN_LINES = 28


def _words(length: int, word: str) -> str:
    """Text of exactly `length` characters made of real-looking words."""
    return ((word + " ") * length)[:length].strip().ljust(length, "x")


@pytest.mark.parametrize("word", ["streetlights", "bus", "neighbourhood"])
def test_the_vote_screen_fits_a_phone_without_scrolling_for_five_long_items(word: str) -> None:
    items = [
        VoteItem(n, _words(vote_domain.TITLE_MAX, word), _words(vote_domain.DETAIL_MAX, word))
        for n in range(1, 6)
    ]
    vote = a_vote(
        items,
        picks=2,
        places=2,
        closes_at="2026-12-02T19:00:00+00:00",
        state="open",
        opened_at="2026-11-23T10:00:00+00:00",
    )
    text = screen(
        "en",
        vote,
        ward_name="St Mary's & Riverside",
        meeting_starts_at="2026-12-03T19:00:00+00:00",
        tz=LONDON,
        picks={1, 2},
        now="2026-11-23T10:00:00+00:00",
    )
    rows = buttons(vote, {1, 2})
    assert len(rows) == 1 and len(rows[0]) == 5
    assert _phone_lines(text, len(rows)) <= SCREEN_LINES, parse_html(text)[0]


def test_long_explanations_are_refused_so_the_screen_stays_short() -> None:
    with pytest.raises(RuleError):
        vote_domain.parse_items("A title | " + "x" * (vote_domain.DETAIL_MAX + 1) + "\nOther")
    assert vote_domain.parse_items("- Skate park\n2) Pitch lights – after 6pm\n\n") == [
        ("Skate park", None),
        ("Pitch lights", "after 6pm"),
    ]


async def test_titles_are_escaped_wherever_they_are_shown(world: World) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    vote_id = await open_vote(world, member, text="/newvote\n<b>Bold</b> idea | a & b\nPlain idea")
    notice = ballot_message(world, young, vote_id)
    assert notice is not None
    assert "1 <b>Bold</b> idea — a & b" in shown(notice), "shown as typed, not as markup"
    sent = [c.text or "" for c in world.api.calls if c.chat_id == young.user_id]
    assert any("&lt;b&gt;Bold&lt;/b&gt; idea — a &amp; b" in text for text in sent)
    await pick(world, young, vote_id, 1)
    since = len(world.api.calls)
    await move_to(world, london("2026-12-02T19:00"))
    html = "\n".join(c.text or "" for c in world.api.calls[since:] if c.chat_id == young.user_id)
    assert "&lt;b&gt;Bold&lt;/b&gt; idea" in html and "<b>Bold</b>" not in html


async def test_a_stale_ballot_from_an_old_vote_is_answered_not_acted_on(world: World) -> None:
    member = await panel_member(world)
    young = await young_person(world)
    vote_id = await open_vote(world, member)
    await move_to(world, london("2026-12-02T19:00"))
    stale = await young.presses(cb.VOTE_PICK.build(id=str(vote_id), position="1", chosen="1"))
    assert alerts(stale) == ["Voting has ended."]
    assert await vote_store.ballot_count(world.db, vote_id) == 0
    assert world.errors == []


async def test_roles_are_checked_by_the_domain_functions_themselves(world: World) -> None:
    """A caller that skips the handlers still meets the role check."""
    member = await panel_member(world)
    vote_id, _ = await draft(member)
    outsider = await resident(world)
    svc = world.services
    with pytest.raises(roles.NotAllowed):
        await vote_domain.open_vote(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=outsider.user_id,
            vote_id=vote_id,
            tz=LONDON,
        )
    with pytest.raises(roles.NotAllowed):
        await vote_domain.new_draft(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=outsider.user_id,
            ward_code=KINGSMEAD,
            text="\n".join(CHOICES),
        )
    assert (await vote_store.get(world.db, vote_id)).state == "draft"  # type: ignore[union-attr]


async def test_ballots_are_forgotten_after_the_retention_period_but_the_counts_stay(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    world = await make_world(synthetic_db, outbox_retention_days=10)
    member = await panel_member(world)
    young = await young_person(world)
    vote_id = await open_vote(world, member)
    await pick(world, young, vote_id, 2)
    await move_to(world, london("2026-12-02T19:00"))
    await move_to(world, london("2026-12-12T18:00"))
    assert await vote_store.ballot_count(world.db, vote_id) == 1, "kept for 10 days"
    await move_to(world, london("2026-12-13T00:30"))
    assert await vote_store.ballot_count(world.db, vote_id) == 0
    assert await world.db.fetchval("SELECT count(*) FROM ballot_choices") == 0
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None and [i.votes for i in vote.items] == [0, 1, 0]
    assert (vote.voters, vote.eligible) == (1, 1)
