"""The panel and team review concerns, answer them and post "you said, we did": residents
who raised a concern (or said "me too") are told; everyone else is refused and audited."""

from __future__ import annotations

import re

from bot.domain import roles
from bot.domain.priorities import add_priority
from handlers import callback_data as cb
from storage import audit, outbox
from storage import concerns as concern_store
from tests.conftest import Person, World
from tests.staffing import invite_code, join_as
from tests.test_staff import KINGSMEAD, OLD_TOWN

REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")


async def _raise(
    world: World, ward: str = KINGSMEAD, text: str = "Cars racing down Mill Lane at night."
) -> tuple[Person, str]:
    resident = world.person()
    await resident.says(f"/start {ward}")
    await resident.says("/concern")
    await resident.taps("Road safety")
    await resident.says(text)
    await resident.taps("Skip")
    await resident.taps("Skip")
    sent = await resident.taps("Send")
    match = REF.search(sent.text)
    assert match
    return resident, match.group(0)


async def _to(world: World, person: Person, since: int) -> str:
    """What the person was sent since `since`, once the outbox has delivered."""
    await world.delivered()
    return "\n".join(
        c.text or "" for c in world.api.calls[since:] if c.chat_id == person.sim.chat_id
    )


async def test_team_reviews_the_queue_and_everyone_who_raised_it_is_told(world: World) -> None:
    raiser, ref = await _raise(world)
    neighbour = world.person()
    await neighbour.says(f"/start {KINGSMEAD}")
    await neighbour.says("/concern")
    await neighbour.taps("Road safety")
    await neighbour.says("Racing cars again on Mill Lane last night.")
    await neighbour.taps("Skip")
    await neighbour.taps("Skip")
    await neighbour.taps(f"Me too: {ref}")
    team = await join_as(world, KINGSMEAD, roles.Role.TEAM_MEMBER)
    await team.says("/panel")
    queue = await team.taps("Concerns")
    assert "Road safety: 1 concerns, 2 people, 1 of them in the last 4 weeks" in queue.text
    await team.taps("Road safety (1)")
    card = await team.taps(ref)
    assert "Cars racing down Mill Lane" in card.text and "2 people have raised this" in card.text
    since = len(world.api.calls)
    await team.taps("Mark reviewed")
    for person in (raiser, neighbour):
        assert f"Update on your concern {ref}: Reviewed by the panel." in await _to(
            world, person, since
        )
    since = len(world.api.calls)
    answered = await team.says(f"/respond {ref} We have asked for speed cameras.")
    assert "Answer on its way to 2 people." in answered.text
    assert "We have asked for speed cameras." in await _to(world, raiser, since)
    mine = await raiser.says("/myconcerns")
    history = await raiser.taps(f"Open {ref}")
    assert "Answer: We have asked for speed cameras." in history.text
    assert "Received → Reviewed by the panel" in history.text
    assert "Reviewed by the panel" in mine.text


async def test_a_template_answer_is_two_taps(world: World) -> None:
    raiser, ref = await _raise(world)
    team = await join_as(world, KINGSMEAD, roles.Role.TEAM_MEMBER)
    await team.says("/panel")
    saved = await team.says("/template roads received Thank you. We will add patrols on this road.")
    assert "Template saved." in saved.text
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None
    await team.presses(cb.STAFF_CONCERN.build(id=str(concern.id)))
    since = len(world.api.calls)
    await team.taps("Answer: Thank you.")
    assert "We will add patrols on this road." in await _to(world, raiser, since)


async def test_chair_links_a_concern_to_a_priority_and_posts_we_did(world: World) -> None:
    raiser, ref = await _raise(world)
    svc = world.services
    priority = await add_priority(
        svc.db, svc.clock, svc.wards, KINGSMEAD, "Speeding on Mill Lane", "roads", by="t"
    )
    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    await chair.says("/panel")
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None
    await chair.presses(cb.STAFF_CONCERN.build(id=str(concern.id)))
    since = len(world.api.calls)
    await chair.taps("Link to: Speeding on Mill Lane")
    assert "Taken up as a priority" in await _to(world, raiser, since)
    since = len(world.api.calls)
    posted = await chair.says(
        f"/wedid #{priority.id} {ref} Speed checks on three evenings; 14 drivers stopped."
    )
    assert "On its way to 1 residents who raised it" in posted.text
    told = await _to(world, raiser, since)
    assert "You said: Speeding on Mill Lane" in told and "14 drivers stopped" in told
    shown = await raiser.says("/priorities")
    assert "Latest action" in shown.text and "14 drivers stopped" in shown.text
    after = await concern_store.by_ref(world.db, ref)
    assert after is not None and after.status == "action"


async def test_moderator_hides_text_and_stops_a_user_filing(world: World) -> None:
    raiser, ref = await _raise(world, text="Something abusive written here about a neighbour.")
    team = await join_as(world, KINGSMEAD, roles.Role.TEAM_MEMBER)
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None
    await team.presses(cb.STAFF_HIDE.build(id=str(concern.id)))
    await team.presses(cb.STAFF_BLOCK.build(id=str(concern.id)))
    card = await team.presses(cb.STAFF_CONCERN.build(id=str(concern.id)))
    assert "[hidden by a moderator]" in card.text and "abusive" not in card.text
    refused = await raiser.says("/concern")
    assert "You can't raise concerns at the moment" in refused.text
    privacy = await raiser.says("/privacy")
    assert "Appeals" in privacy.text and str(raiser.user_id) in privacy.text
    actions = [line.action for line in await audit.recent(world.db) if line.outcome == "done"]
    assert "hide_text" in actions and "block_filing" in actions


async def test_residents_and_other_wards_staff_are_refused_with_nothing_changed(
    world: World,
) -> None:
    _raiser, ref = await _raise(world)
    concern = await concern_store.by_ref(world.db, ref)
    assert concern is not None
    resident = world.person()
    await resident.says(f"/start {KINGSMEAD}")
    other = await join_as(world, OLD_TOWN, roles.Role.PANEL_CHAIR)
    events_before = len(await concern_store.events(world.db, concern.id))
    refused_before = sum(1 for a in await audit.recent(world.db, 500) if a.outcome == "refused")
    attempts = 0
    for person in (resident, other):
        for data in (
            cb.STAFF_STATUS.build(id=str(concern.id), status="closed"),
            cb.STAFF_HIDE.build(id=str(concern.id)),
            cb.STAFF_BLOCK.build(id=str(concern.id)),
            cb.STAFF_CONCERN.build(id=str(concern.id)),
            cb.STAFF_CONCERNS.build(code=KINGSMEAD),
        ):
            reply = await person.presses(data)
            assert reply.answers[0].params["text"] == "Sorry, you can't do that for this ward."
            attempts += 1
        typed = await person.says(f"/respond {ref} Hijacked answer")
        assert "Sorry, you can't do that" in typed.text
        attempts += 1
    after = await concern_store.by_ref(world.db, ref)
    assert after is not None and after.status == "received"
    assert not await concern_store.is_hidden(world.db, concern.id)
    assert len(await concern_store.events(world.db, concern.id)) == events_before
    refused_after = sum(1 for a in await audit.recent(world.db, 500) if a.outcome == "refused")
    assert refused_after == refused_before + attempts


async def test_chair_goes_from_invite_to_priorities_meeting_and_we_did_in_few_steps(
    world: World,
) -> None:
    """The issue's goal: a fresh invite code to three priorities, a meeting and a "you said,
    we did" entry that reaches the resident who raised the linked concern, in < 25 steps."""
    raiser, ref = await _raise(world)
    code = await invite_code(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    chair = world.person()
    steps = 0

    async def step(text: str) -> str:
        nonlocal steps
        steps += 1
        return (await chair.says(text)).text

    assert "You are now a panel chair" in await step(f"/join {code}")
    await step("/panel")
    for line in (
        "roads Speeding on Mill Lane",
        "asb Groups outside the shops",
        "street Fly-tipping",
    ):
        assert "Added priority" in await step(f"/addpriority {line}")
    scheduled = await step("/meeting 2026-12-03 19:00 | St Mark's Church Hall | open")
    assert "scheduled for Kingsmead" in scheduled
    priority_id = await world.db.fetchval("SELECT id FROM priorities WHERE title LIKE 'Speeding%'")
    since = len(world.api.calls)
    assert "On its way to" in await step(
        f"/wedid #{priority_id} {ref} Speed checks on three evenings."
    )
    assert "We did: Speed checks on three evenings." in await _to(world, raiser, since)
    meetings = await raiser.says("/meetings")
    assert "St Mark's Church Hall" in meetings.text
    assert steps < 25


async def test_queue_counts_what_arrived_since_the_last_meeting(world: World) -> None:
    await _raise(world)
    chair = await join_as(world, KINGSMEAD, roles.Role.PANEL_CHAIR)
    await chair.says("/meeting 2026-11-25 19:00 | Library | open")
    world.clock.advance(days=3)  # the meeting has happened
    await _raise(world, text="Another car racing on Mill Lane, Friday night.")
    await chair.says("/panel")
    queue = await chair.taps("Concerns")
    assert "Road safety: 2 concerns, 2 people, 1 of them since the last meeting" in queue.text


async def test_a_resident_who_blocked_the_bot_does_not_stop_the_others_being_told(
    world: World,
) -> None:
    raiser, ref = await _raise(world)
    neighbour = world.person()
    await neighbour.says(f"/start {KINGSMEAD}")
    await neighbour.says("/concern")
    await neighbour.taps("Road safety")
    await neighbour.says("The same racing cars on Mill Lane, every weekend.")
    await neighbour.taps("Skip")
    await neighbour.taps("Skip")
    await neighbour.taps(f"Me too: {ref}")
    world.api.blocked_chats.add(raiser.sim.chat_id)
    team = await join_as(world, KINGSMEAD, roles.Role.TEAM_MEMBER)
    since = len(world.api.calls)
    answered = await team.says(f"/respond {ref} Patrols booked for Friday and Saturday nights.")
    assert "Answer on its way to 2 people." in answered.text
    assert "Patrols booked" in await _to(world, neighbour, since)
    rows = await outbox.rows_for_chat(world.db, raiser.sim.chat_id)
    assert [r["state"] for r in rows] == ["blocked"]
