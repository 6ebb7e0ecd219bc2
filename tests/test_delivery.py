"""Delivery guarantees (DESIGN "Delivery guarantees"): a ward team's broadcast reaches every
resident who opted in to that ward, once; Telegram's 429, 403, 400, 5xx and latency are
met the way the design says; a restart resumes without duplicates or gaps, and the only
duplicate possible is a send that was in flight when the process died."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.clock import to_iso
from bot.config import Settings
from bot.domain import broadcasts, roles
from bot.pacing import PacedRateLimiter, Pacer
from handlers import broadcast as broadcast_handlers
from storage import outbox, residents, subscriptions
from storage.db import Database
from storage.outbox import Envelope, Recipient
from tests.conftest import Person, Reply, World
from tests.fakes import bot_api
from tests.fakes.bot_api import ApiCall, FakeBotAPI
from tests.staffing import join_as

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
NEWS = "The bus shelter on Mill Lane has been repaired."
SEND = re.compile(r"bc:send:(\d+)")


# --- helpers ------------------------------------------------------------------------------


async def subscribers(
    world: World, count: int, ward: str = KINGSMEAD, choice: str = "Weekly digest"
) -> list[Person]:
    """`count` residents of `ward` who answered the one-time question with `choice`."""

    async def one() -> Person:
        person = world.person()
        await person.says(f"/start {ward}")
        saved = await person.taps(choice)
        assert "Saved." in [a.params.get("text") for a in saved.answers]
        return person

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def team_member(world: World, ward: str = KINGSMEAD) -> Person:
    return await join_as(world, ward, roles.Role.TEAM_MEMBER)


@dataclass
class Preview:
    reply: Reply
    message: dict  # the preview message in the sender's chat (edited into the count)
    item_id: int

    @property
    def send_data(self) -> str:
        return f"bc:send:{self.item_id}"


async def compose(world: World, team: Person, text: str = NEWS) -> Preview:
    reply = await team.says(f"/broadcast {text}")
    message = world.api.messages(team.user_id)[-1]
    datas = [b["callback_data"] for b in reply.buttons if SEND.fullmatch(b["callback_data"])]
    assert len(datas) == 1, reply.text
    return Preview(reply, message, int(SEND.fullmatch(datas[0]).group(1)))  # type: ignore[union-attr]


def shown(world: World, person: Person, message_id: int) -> str:
    """The message as the person's chat shows it now, after every edit."""
    for message in world.api.messages(person.user_id):
        if message["message_id"] == message_id:
            return message.get("text", "")
    raise AssertionError(f"message {message_id} is not in chat {person.user_id}")


def copies(world: World, chat_id: int, text: str = NEWS) -> int:
    """How many messages carrying `text` the chat holds."""
    return sum(1 for m in world.api.messages(chat_id) if text in m.get("text", ""))


def sends_to(world: World, chat_id: int, text: str = NEWS) -> list[ApiCall]:
    """Every sendMessage to the chat carrying `text`, whatever Telegram answered."""
    return [
        c
        for c in world.api.calls
        if c.method == "sendMessage" and c.chat_id == chat_id and text in (c.text or "")
    ]


def answer_texts(reply: Reply) -> list[str]:
    return [a.params.get("text", "") for a in reply.answers]


def pace(world: World, rate: float) -> None:
    """Run the world's shared send budget at `rate` a second from now on.

    make_world cannot override max_send_rate (conftest passes it itself, and a second value
    is a TypeError), so the running limiter gets a fresh pacer while nothing is queued.
    """
    limiter = world.application.bot.rate_limiter
    assert isinstance(limiter, PacedRateLimiter)
    assert limiter.pacer.waiting == 0
    limiter.pacer = Pacer(rate)


async def later_item(world: World, chat_id: int, hours: float = 1.0) -> int:
    """An outbox row for the chat, due in `hours` (a reminder queued for later)."""
    due = to_iso(world.clock.now() + timedelta(hours=hours))
    item_id = await outbox.enqueue(
        world.db,
        Envelope(
            kind="reminder", texts={"en": "Ward meeting tomorrow."}, recipients=[Recipient(chat_id)]
        ),
        due,
    )
    assert item_id is not None
    return item_id


async def settle(world: World) -> None:
    """world.delivered(), checked against the database.

    Also checks the database: no row is due now and none is being sent.
    """
    while True:
        await world.delivered()
        left = await world.db.fetchval(
            "SELECT COUNT(*) FROM outbox WHERE state = 'sending' "
            "OR (state = 'pending' AND due_at <= ?)",
            (to_iso(world.clock.now()),),
        )
        if not left:
            return


async def row_states(world: World, chat_id: int) -> list[tuple[str, str]]:
    return [(r["kind"], r["state"]) for r in await outbox.rows_for_chat(world.db, chat_id)]


FINISHED_30 = "✅ Broadcast finished: 30 sent, 0 could not be reached (blocked the bot), 0 failed."


# --- the broadcast as the team and residents see it ---------------------------------------


async def test_team_broadcast_reaches_every_subscriber_once_with_a_live_count(
    world: World,
) -> None:
    people = await subscribers(world, 15, choice="Weekly digest")
    people += await subscribers(world, 15, choice="At once")
    team = await team_member(world)

    preview = await compose(world, team)
    assert "Preview: this is what residents will see." in preview.reply.text
    assert NEWS in preview.reply.text
    assert "It goes to 30 subscribers of this ward." in preview.reply.text
    assert [b["text"] for b in preview.reply.buttons] == ["Send to 30", "Cancel"]
    assert all(copies(world, p.user_id) == 0 for p in people)

    pressed = await team.taps("Send to 30")
    assert "Sending." in answer_texts(pressed)
    assert "📤 Sending… 0 of 30 sent." in pressed.texts
    await settle(world)

    for person in people:
        assert copies(world, person.user_id) == 1
        assert len(sends_to(world, person.user_id)) == 1
        seen = world.api.messages(person.user_id)[-1]["text"]
        assert seen.startswith("📣 News from the Kingsmead neighbourhood team")
        assert "/updates to change" in seen
    assert shown(world, team, preview.message["message_id"]) == FINISHED_30
    assert len(sends_to(world, team.user_id)) == 1  # the preview: the team is not subscribed
    counts = await outbox.counts(world.db, preview.item_id)
    assert (counts.total, counts.sent, counts.waiting) == (30, 30, 0)
    item = await outbox.item(world.db, preview.item_id)
    assert item is not None and item.state == "done"


async def test_only_residents_who_opted_in_to_this_ward_hear_the_news(world: World) -> None:
    weekly, instant = await subscribers(world, 1, choice="Weekly digest") + await subscribers(
        world, 1, choice="At once"
    )
    declined = (await subscribers(world, 1, choice="Off"))[0]
    never_chose = world.person()
    await never_chose.says(f"/start {KINGSMEAD}")
    changed_mind = (await subscribers(world, 1, choice="At once"))[0]
    await changed_mind.says("/updates")
    await changed_mind.taps("Off")
    elsewhere = (await subscribers(world, 1, ward=OLD_TOWN, choice="At once"))[0]
    team = await team_member(world)

    preview = await compose(world, team)
    assert "It goes to 2 subscribers of this ward." in preview.reply.text
    await team.taps("Send to 2")
    await settle(world)

    assert copies(world, weekly.user_id) == 1 and copies(world, instant.user_id) == 1
    for person in (declined, never_chose, changed_mind, elsewhere):
        assert copies(world, person.user_id) == 0
        assert sends_to(world, person.user_id) == []
    assert "Broadcast finished: 2 sent" in shown(world, team, preview.message["message_id"])


async def test_the_list_is_taken_when_send_is_pressed_not_at_the_preview(world: World) -> None:
    leaving = (await subscribers(world, 1))[0]
    staying = (await subscribers(world, 1))[0]
    team = await team_member(world)
    preview = await compose(world, team)
    assert "It goes to 2 subscribers" in preview.reply.text
    await leaving.says("/updates")
    await leaving.taps("Off")
    joining = (await subscribers(world, 1, choice="At once"))[0]

    await team.presses(preview.send_data, preview.message)
    await settle(world)

    assert copies(world, leaving.user_id) == 0
    assert copies(world, staying.user_id) == 1 and copies(world, joining.user_id) == 1
    assert "Broadcast finished: 2 sent" in shown(world, team, preview.message["message_id"])


async def test_a_ward_nobody_follows_has_nothing_to_send(world: World) -> None:
    await subscribers(world, 2, ward=OLD_TOWN)
    team = await team_member(world)
    reply = await team.says(f"/broadcast {NEWS}")
    assert "Nobody in this ward has asked for updates yet" in reply.text
    assert reply.buttons == []
    # At most an unsent draft is left (retention removes it): nothing was queued.
    for item in await outbox.items_by_kind(world.db, "broadcast"):
        assert (item.state, item.total) == ("draft", 0)


async def test_residents_see_the_teams_words_exactly_as_written(world: World) -> None:
    people = await subscribers(world, 3)
    team = await team_member(world)
    words = 'Road <closed> from 9 > 10 & "diverted" via <b>Mill Lane</b>'
    preview = await compose(world, team, words)
    assert words in preview.reply.text
    await team.presses(preview.send_data, preview.message)
    await settle(world)
    for person in people:
        assert copies(world, person.user_id, words) == 1
    assert "Broadcast finished: 3 sent, 0 could not be reached (blocked the bot), 0 failed." in (
        shown(world, team, preview.message["message_id"])
    )


async def test_cancel_sends_nothing_and_its_send_button_is_dead(world: World) -> None:
    people = await subscribers(world, 3)
    team = await team_member(world)
    preview = await compose(world, team)
    cancelled = await team.taps("Cancel")
    assert "Cancelled." in answer_texts(cancelled)
    assert shown(world, team, preview.message["message_id"]) == (
        "Broadcast cancelled; nothing was sent."
    )
    late = await team.presses(preview.send_data, preview.message)
    assert "This broadcast was already sent or cancelled." in answer_texts(late)
    await settle(world)
    assert all(copies(world, p.user_id) == 0 for p in people)
    assert (await outbox.counts(world.db, preview.item_id)).total == 0


# --- buttons are untrusted input ------------------------------------------------------------


async def test_a_resident_forging_the_send_button_is_refused_and_nothing_goes_out(
    world: World,
) -> None:
    people = await subscribers(world, 3)
    team = await team_member(world)
    preview = await compose(world, team)

    forger = people[0]
    forged = await forger.presses(preview.send_data)
    assert "Sorry, you can't do that for this ward." in answer_texts(forged)
    other_team = await team_member(world, OLD_TOWN)
    forged = await other_team.presses(preview.send_data)
    assert "Sorry, you can't do that for this ward." in answer_texts(forged)
    colleague = await team_member(world)  # same ward, but not the author of this draft
    forged = await colleague.presses(preview.send_data)
    assert "This button is no longer valid." in answer_texts(forged)
    await settle(world)

    assert all(copies(world, p.user_id) == 0 for p in people)
    item = await outbox.item(world.db, preview.item_id)
    assert item is not None and item.state == "draft"
    assert (await outbox.counts(world.db, preview.item_id)).total == 0
    still = next(
        m
        for m in world.api.messages(team.user_id)
        if m["message_id"] == preview.message["message_id"]
    )
    assert "Send to 3" in [b["text"] for b in still["reply_markup"]["inline_keyboard"][0]]

    # The real author's preview still works afterwards.
    await team.taps("Send to 3")
    await settle(world)
    assert all(copies(world, p.user_id) == 1 for p in people)


async def test_a_double_tap_on_send_queues_the_broadcast_once(world: World) -> None:
    people = await subscribers(world, 5)
    team = await team_member(world)
    preview = await compose(world, team)

    first, second = await asyncio.gather(
        team.presses(preview.send_data, preview.message),
        team.presses(preview.send_data, preview.message),
    )
    # Both presses run at once, so each Reply may also hold the other's answer.
    both = {id(call): call for call in first.answers + second.answers}.values()
    answers = [call.params.get("text") for call in both]
    assert answers.count("Sending.") == 1
    assert answers.count("This broadcast was already sent or cancelled.") == 1
    again = await team.presses(preview.send_data, preview.message)
    assert "This broadcast was already sent or cancelled." in answer_texts(again)
    await settle(world)

    assert all(copies(world, p.user_id) == 1 for p in people)
    assert (await outbox.counts(world.db, preview.item_id)).total == 5
    assert "Broadcast finished: 5 sent" in shown(world, team, preview.message["message_id"])


async def test_two_confirmations_racing_in_the_database_queue_once(world: World) -> None:
    """The last line of defence behind the per-user update order: the draft's state is
    checked inside the transaction that queues it."""
    people = await subscribers(world, 3)
    team = await team_member(world)
    preview = await compose(world, team)
    item = await broadcasts.draft(world.db, preview.item_id)
    assert item is not None

    queued = await asyncio.gather(
        *(
            broadcasts.confirm(
                world.db,
                world.clock,
                item,
                progress_chat=team.user_id,
                progress_message=preview.message["message_id"],
                language="en",
            )
            for _ in range(2)
        )
    )
    assert sorted(queued, key=str) == [3, None]
    await settle(world)
    assert all(copies(world, p.user_id) == 1 for p in people)
    assert (await outbox.counts(world.db, preview.item_id)).total == 3


# --- what Telegram answers ------------------------------------------------------------------


async def test_a_429_holds_every_send_for_retry_after_then_the_row_goes_out_once(
    world: World,
) -> None:
    people = await subscribers(world, 5)
    team = await team_member(world)
    preview = await compose(world, team)
    world.api.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    since = len(world.api.calls)
    await team.presses(preview.send_data, preview.message)
    await settle(world)

    calls = world.api.calls[since:]
    refused = [c for c in calls if c.status == 429]
    assert len(refused) == 1 and refused[0].method == "sendMessage"
    told_at = refused[0].at
    # Sends already on their way when the 429 was given may land just after it; nothing
    # the bot started afterwards may, until retry_after is over (editing counts too).
    in_the_wait = [
        (c.method, c.chat_id, round(c.at - told_at, 3))
        for c in calls
        if c.method in ("sendMessage", "editMessageText") and told_at + 0.3 < c.at < told_at + 1.0
    ]
    assert in_the_wait == []
    waited = refused[0].chat_id
    assert waited is not None
    retried = [c for c in sends_to(world, waited) if c.ok]
    assert len(retried) == 1 and retried[0].at >= told_at + 1.0
    for person in people:
        assert copies(world, person.user_id) == 1
    counts = await outbox.counts(world.db, preview.item_id)
    assert (counts.sent, counts.failed, counts.blocked) == (5, 0, 0)
    assert world.dispatcher.stats.retry_after == 1
    rows = await outbox.rows_for_chat(world.db, waited)
    assert rows[-1]["state"] == "sent" and rows[-1]["attempts"] == 0  # Telegram's pacing
    assert "Broadcast finished: 5 sent" in shown(world, team, preview.message["message_id"])


async def test_a_resident_who_blocked_the_bot_is_unsubscribed_and_counted(world: World) -> None:
    people = await subscribers(world, 5)
    gone = people[2]
    team = await team_member(world)
    reminder = await later_item(world, gone.user_id)
    world.api.blocked_chats.add(gone.user_id)

    preview = await compose(world, team)
    await team.presses(preview.send_data, preview.message)
    await settle(world)

    for person in people:
        assert copies(world, person.user_id) == (0 if person is gone else 1)
    assert shown(world, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 4 sent, 1 could not be reached (blocked the bot), 0 failed."
    )
    resident = await residents.get(world.db, gone.user_id)
    assert resident is not None and resident.updates == "off"
    assert gone.user_id not in [s.user_id for s in await subscriptions.of_ward(world.db, KINGSMEAD)]
    assert await row_states(world, gone.user_id) == [
        ("reminder", "dropped"),
        ("broadcast", "blocked"),
    ]
    reminder_item = await outbox.item(world.db, reminder)
    assert reminder_item is not None and reminder_item.state == "done"

    # Next week's news: they are not even tried.
    tried = len(sends_to(world, gone.user_id, ""))
    second = await compose(world, team, "Litter pick on Saturday at 10, meet at the library.")
    assert "It goes to 4 subscribers of this ward." in second.reply.text
    await team.presses(second.send_data, second.message)
    world.clock.advance(hours=2)  # the dropped reminder's time comes and goes
    await settle(world)
    assert len(sends_to(world, gone.user_id, "")) == tried
    assert "Broadcast finished: 4 sent, 0 could not be reached" in shown(
        world, team, second.message["message_id"]
    )


async def test_telegrams_notice_of_a_block_unsubscribes_and_drops_what_was_waiting(
    world: World,
) -> None:
    people = await subscribers(world, 3, choice="At once")
    leaver = people[0]
    reminder = await later_item(world, leaver.user_id)
    other = await later_item(world, people[1].user_id)

    await leaver.sends(leaver.sim.my_chat_member(blocked=True))

    resident = await residents.get(world.db, leaver.user_id)
    assert resident is not None and resident.updates == "off"
    assert await row_states(world, leaver.user_id) == [("reminder", "dropped")]
    item = await outbox.item(world.db, reminder)
    assert item is not None and item.state == "done"
    world.clock.advance(hours=2)
    await settle(world)
    assert copies(world, leaver.user_id, "Ward meeting tomorrow.") == 0
    assert copies(world, people[1].user_id, "Ward meeting tomorrow.") == 1
    assert (await outbox.item(world.db, other)).state == "done"  # type: ignore[union-attr]

    team = await team_member(world)
    preview = await compose(world, team)
    assert "It goes to 2 subscribers of this ward." in preview.reply.text

    # They unblock and ask for updates again: from then on they hear the news.
    await leaver.sends(leaver.sim.my_chat_member(blocked=False))
    await leaver.says("/updates")
    await leaver.taps("Weekly digest")
    preview = await compose(world, team, "Litter pick on Saturday at 10, meet at the library.")
    assert "It goes to 3 subscribers of this ward." in preview.reply.text
    await team.presses(preview.send_data, preview.message)
    await settle(world)
    assert copies(world, leaver.user_id, "Litter pick on Saturday") == 1


async def test_a_server_error_is_retried_after_the_backoff_and_delivered_once(
    world: World,
) -> None:
    (person,) = await subscribers(world, 1)
    team = await team_member(world)
    preview = await compose(world, team)
    world.api.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)

    await team.presses(preview.send_data, preview.message)
    await settle(world)
    (row,) = await outbox.rows_for_chat(world.db, person.user_id)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "Internal Server Error" in row["error"]
    assert copies(world, person.user_id) == 0

    world.clock.advance(seconds=1)  # not yet: the first backoff is 2 s
    world.services.outbox_bell.ring()
    await settle(world)
    assert len(sends_to(world, person.user_id)) == 1

    world.clock.advance(seconds=1)
    world.services.outbox_bell.ring()
    await settle(world)
    (row,) = await outbox.rows_for_chat(world.db, person.user_id)
    assert (row["state"], row["attempts"]) == ("pending", 2)  # the second 500: wait 4 s
    assert len(sends_to(world, person.user_id)) == 2

    world.clock.advance(seconds=4)
    world.services.outbox_bell.ring()
    await settle(world)
    (row,) = await outbox.rows_for_chat(world.db, person.user_id)
    assert (row["state"], row["attempts"], row["error"]) == ("sent", 2, None)
    assert copies(world, person.user_id) == 1
    assert [c.status for c in sends_to(world, person.user_id)] == [500, 500, 200]
    assert "Broadcast finished: 1 sent, 0 could not be reached (blocked the bot), 0 failed." in (
        shown(world, team, preview.message["message_id"])
    )


async def test_a_send_that_always_fails_ends_failed_after_send_attempts_tries(
    make_world, synthetic_db: Path
) -> None:  # type: ignore[no-untyped-def]
    world = await make_world(synthetic_db, send_attempts=3)
    (person,) = await subscribers(world, 1)
    team = await team_member(world)
    preview = await compose(world, team)
    world.api.fail_next("sendMessage", status=502, description="Bad Gateway", times=3)

    await team.presses(preview.send_data, preview.message)
    await settle(world)
    for wait in (2, 4):
        world.clock.advance(seconds=wait)
        world.services.outbox_bell.ring()
        await settle(world)

    (row,) = await outbox.rows_for_chat(world.db, person.user_id)
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert "Bad Gateway" in row["error"]
    world.clock.advance(minutes=30)
    world.services.outbox_bell.ring()
    await settle(world)
    assert len(sends_to(world, person.user_id)) == 3  # and not a fourth
    assert copies(world, person.user_id) == 0
    assert shown(world, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 0 sent, 0 could not be reached (blocked the bot), 1 failed."
    )


async def test_a_400_fails_at_once_without_retrying(world: World) -> None:
    people = await subscribers(world, 3)
    team = await team_member(world)
    preview = await compose(world, team)
    world.api.fail_next("sendMessage", status=400, description="Bad Request: chat not found")

    await team.presses(preview.send_data, preview.message)
    await settle(world)
    failed = [p for p in people if copies(world, p.user_id) == 0]
    assert len(failed) == 1
    (row,) = await outbox.rows_for_chat(world.db, failed[0].user_id)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "chat not found" in row["error"].lower()
    assert len(sends_to(world, failed[0].user_id)) == 1
    assert shown(world, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 2 sent, 0 could not be reached (blocked the bot), 1 failed."
    )


async def test_a_slow_telegram_still_delivers_and_a_residents_reply_goes_first(
    world: World,
) -> None:
    people = await subscribers(world, 20)
    team = await team_member(world)
    asker = world.person()
    await asker.says(f"/start {KINGSMEAD}")
    preview = await compose(world, team)
    pace(world, 10)  # 10 a second: the broadcast takes about 2 s
    world.api.latency = 0.3

    await team.presses(preview.send_data, preview.message)
    asked_at = time.monotonic()
    answered = await asker.says("/help")
    took = time.monotonic() - asked_at
    assert answered.texts, "no answer to /help"
    before = sum(len(sends_to(world, p.user_id)) for p in people)
    await settle(world)

    assert before < 20, "the broadcast had finished before the reply: nothing was measured"
    last_bulk = max(c.at for p in people for c in sends_to(world, p.user_id))
    reply_at = max(c.at for c in answered.calls if c.method == "sendMessage")
    assert reply_at < last_bulk
    assert took < 1.5, f"/help took {took:.2f} s behind the broadcast"
    assert all(copies(world, p.user_id) == 1 for p in people)
    assert "Broadcast finished: 20 sent" in shown(world, team, preview.message["message_id"])


async def test_a_broadcast_at_the_default_pace_keeps_to_telegrams_limits(world: World) -> None:
    limits = getattr(bot_api, "TelegramLimits", None)
    if limits is None:
        pytest.skip("the fake Bot API has no flood limits mode")
    people = await subscribers(world, 60)
    team = await team_member(world)
    preview = await compose(world, team)
    pace(world, Settings.max_send_rate)  # production's 28 a second
    world.api.limits = limits()
    world.api.reset_counters()

    await team.presses(preview.send_data, preview.message)
    await settle(world)

    assert world.api.violations == 0
    assert world.api.rejected_429 == 0
    assert world.api.max_sends_in_any_second() <= 30
    assert all(copies(world, p.user_id) == 1 for p in people)
    assert "Broadcast finished: 60 sent" in shown(world, team, preview.message["message_id"])


# --- restarts -------------------------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_broadcast_resumes_without_duplicates(
    make_world, synthetic_db: Path
) -> None:  # type: ignore[no-untyped-def]
    first = await make_world(synthetic_db)
    people = await subscribers(first, 100)
    team = await team_member(first)
    preview = await compose(first, team)
    pace(first, 20)

    await team.presses(preview.send_data, preview.message)
    since = len(first.api.calls)
    while sum(copies(first, p.user_id) for p in people) < 15:
        call = await first.api.wait_for_call(method="sendMessage", since=since, within=10)
        since = first.api.calls.index(call) + 1
    await first.stop()
    sent_before = sum(copies(first, p.user_id) for p in people)
    assert 15 <= sent_before < 100

    second = await make_world(first.services.settings.db_path)
    await settle(second)

    assert second.dispatcher.stats.recovered == 0  # a graceful stop leaves nothing in flight
    assert [p.user_id for p in people if copies(second, p.user_id) != 1] == []
    assert all(len(sends_to(second, p.user_id)) == 1 for p in people)
    assert shown(second, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 100 sent, 0 could not be reached (blocked the bot), 0 failed."
    )


async def test_a_preview_made_before_a_restart_can_still_be_sent(
    make_world, synthetic_db: Path
) -> None:  # type: ignore[no-untyped-def]
    first = await make_world(synthetic_db)
    people = await subscribers(first, 4)
    team = await team_member(first)
    preview = await compose(first, team)
    await first.stop()

    second = await make_world(first.services.settings.db_path)
    team = Person(second, team.sim)
    pressed = await team.presses(preview.send_data, preview.message)
    assert "Sending." in answer_texts(pressed)
    await settle(second)
    assert all(copies(second, p.user_id) == 1 for p in people)
    assert "Broadcast finished: 4 sent" in shown(second, team, preview.message["message_id"])


async def test_a_crash_mid_send_resends_only_what_was_in_flight(
    make_world, synthetic_db: Path
) -> None:  # type: ignore[no-untyped-def]
    first = await make_world(synthetic_db)
    people = await subscribers(first, 10)
    await first.stop()
    path = first.services.settings.db_path
    text = "Road closed on Mill Lane on Saturday."

    # A process queued the news, claimed three rows and died while sending them: two of
    # those sends had reached Telegram, the third had not.
    db = await Database.open(path)
    try:
        now = to_iso(first.clock.now())
        await outbox.enqueue(
            db,
            Envelope(
                kind="broadcast",
                texts={"en": text},
                recipients=[Recipient(p.user_id) for p in people],
                ward_code=KINGSMEAD,
            ),
            now,
        )
        in_flight = await outbox.claim(db, now, 3)
    finally:
        await db.close()
    assert len(in_flight) == 3
    async with aiohttp.ClientSession() as session:
        for row in in_flight[:2]:
            url = f"{first.api.base_url}{FakeBotAPI.TOKEN}/sendMessage"
            async with session.post(url, json={"chat_id": row.chat_id, "text": text}) as answer:
                assert answer.status == 200

    second = await make_world(path)
    await settle(second)

    assert second.dispatcher.stats.recovered == 3
    twice = {row.chat_id for row in in_flight[:2]}
    for person in people:
        assert copies(second, person.user_id, text) == (2 if person.user_id in twice else 1)
    for person in people:
        (row,) = await outbox.rows_for_chat(second.db, person.user_id)
        assert row["state"] == "sent"


# --- bugs -------------------------------------------------------------------------------


async def test_final_count_is_not_overwritten_by_the_send_buttons_own_progress_edit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (person,) = await subscribers(world, 1)
    team = await team_member(world)
    preview = await compose(world, team)
    audit = broadcast_handlers.audit_action

    async def slow_audit(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # The audit write is slow (a busy database): the dispatcher, already rung, finishes
        # the one-recipient broadcast and writes the final count first.
        await settle(world)
        await audit(*args, **kwargs)

    monkeypatch.setattr(broadcast_handlers, "audit_action", slow_audit)
    await team.presses(preview.send_data, preview.message)
    await settle(world)
    assert copies(world, person.user_id) == 1
    assert shown(world, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 1 sent, 0 could not be reached (blocked the bot), 0 failed."
    )


async def test_delivered_waits_for_a_row_queued_while_the_dispatcher_was_looking(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (person,) = await subscribers(world, 1)
    await settle(world)
    claim = outbox.claim
    looked, go_on = asyncio.Event(), asyncio.Event()

    async def slow_claim(db: Database, now: str, limit: int) -> list[outbox.Row]:
        rows = await claim(db, now, limit)
        if not looked.is_set():
            looked.set()  # it found nothing due, but has not said so yet
            await go_on.wait()
        return rows

    monkeypatch.setattr(outbox, "claim", slow_claim)
    world.services.outbox_bell.ring()
    await looked.wait()
    # A reminder is queued now (and rings, as every writer of the outbox does); then a test
    # or bench asks to wait until it has been delivered.
    await outbox.enqueue(
        world.db,
        Envelope(
            kind="reminder",
            texts={"en": "Ward meeting tomorrow."},
            recipients=[Recipient(person.user_id)],
        ),
        to_iso(world.clock.now()),
    )
    world.services.outbox_bell.ring()
    waiting = asyncio.create_task(world.delivered())
    await asyncio.sleep(0.01)
    go_on.set()
    await waiting
    assert copies(world, person.user_id, "Ward meeting tomorrow.") == 1


async def test_a_broadcast_finished_by_a_block_notice_still_shows_its_final_count(
    world: World,
) -> None:
    people = await subscribers(world, 2)
    team = await team_member(world)
    preview = await compose(world, team)
    world.api.fail_next("sendMessage", status=500, description="Internal Server Error")
    await team.presses(preview.send_data, preview.message)
    await settle(world)
    (waiting,) = [p for p in people if copies(world, p.user_id) == 0]
    assert (await outbox.rows_for_chat(world.db, waiting.user_id))[0]["state"] == "pending"

    # Before its retry is due, that resident blocks the bot: their row is dropped and the
    # broadcast has nothing left to send.
    await waiting.sends(waiting.sim.my_chat_member(blocked=True))
    item = await outbox.item(world.db, preview.item_id)
    assert item is not None and item.state == "done"
    world.clock.advance(minutes=5)
    await settle(world)
    assert shown(world, team, preview.message["message_id"]) == (
        "✅ Broadcast finished: 1 sent, 1 could not be reached (blocked the bot), 0 failed."
    )
