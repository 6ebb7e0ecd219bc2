"""Residents' data rights through the real bot: /privacy, /mydata (everything stored about
them, as a JSON file) and /forget (after confirmation, no row anywhere names them any more;
what belongs to everyone stays, unlinked).

The person here has used everything: found their ward, subscribed, raised an answered and
an unanswered concern, said "me too", rated a follow-up, held two roles from invites,
scheduled a meeting, set up and opened a youth vote and voted in it.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain import privacy as privacy_domain
from bot.domain.roles import Role
from handlers import callback_data as cb
from storage import audit
from storage import concerns as concern_store
from storage import outbox as outbox_store
from storage import privacy as privacy_store
from storage import ratings as rating_store
from storage import residents as resident_store
from storage import roles as role_store
from storage import votes as vote_store
from storage.db import Database
from storage.outbox import Envelope, Recipient
from tests.conftest import START, Person, Reply, World, WorldFactory
from tests.fakes.bot_api import Upload
from tests.fakes.users import SimUser
from tests.staffing import invite_code, join_as
from tests.synthetic import SYNTHETIC_POINTS
from tests.test_votes import ballot_message, open_vote, pick, young_person

KINGSMEAD = "E05900002"
REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")
# A realistic Telegram user id, long enough that no other number or text in the database
# can contain it by chance: the scans below look for its digits anywhere.
SAM = 7_301_245_689
ANSWERED = "Cars racing down Mill Lane at night — every night this week."
UNANSWERED = "Loud music from the empty shop on the corner until 3am."
ANSWER = "We have asked for speed cameras."
MEETING = "/meeting 2027-01-14 19:00 | St Mark's Church Hall, Mill Lane | open"


# --- helpers ---------------------------------------------------------------------------


def person_with_id(world: World, user_id: int) -> Person:
    sim = SimUser(user_id, first_name="Samira", clock=lambda: world.clock.now().timestamp())
    return Person(world, sim)


async def raise_concern(
    person: Person,
    category: str,
    text: str,
    *,
    place: tuple[float, float] | None = None,
    photo: bool = False,
) -> str:
    await person.says("/concern")
    await person.taps(category)
    await person.says(text)
    if place is None:
        await person.taps("Skip")
    else:
        await person.shares_location(*place)
    if photo:
        await person.sends(person.sim.photo())
    else:
        await person.taps("Skip")
    sent = await person.taps("Send")
    found = REF.search(sent.text)
    assert found, sent.text
    return found.group(0)


async def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the database."""
    tables = [
        str(r[0])
        for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
    ]
    return {
        table: [dict(r) for r in await db.fetchall(f'SELECT * FROM "{table}"')] for table in tables
    }


def names(value: Any, user_id: int) -> bool:
    """Does this stored value hold the user id (as a number, or anywhere in a text)?"""
    if isinstance(value, int | float):
        return value == user_id
    if isinstance(value, str):
        return str(user_id) in value
    if isinstance(value, bytes):
        return str(user_id).encode() in value
    return False


async def rows_naming(db: Database, user_id: int) -> list[str]:
    """A generic scan of every column of every table (sqlite_master + PRAGMA table_info)."""
    found = []
    for table in [
        str(r[0]) for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    ]:
        columns = [str(c[1]) for c in await db.fetchall(f'PRAGMA table_info("{table}")')]
        for row in await db.fetchall(f'SELECT * FROM "{table}"'):
            for column in columns:
                if names(row[column], user_id):
                    found.append(f"{table}.{column} = {row[column]!r}")
                if isinstance(row[column], str) and f"tg:{user_id}" in row[column]:
                    found.append(f"{table}.{column} mentions tg:{user_id}")
    return found


def document_of(reply: Reply) -> tuple[Upload, str]:
    [call] = [c for c in reply.calls if c.method == "sendDocument" and c.ok]
    upload = call.params["document"]
    assert isinstance(upload, Upload)
    return upload, call.text or ""


def prompt_key(reply: Reply) -> str:
    [data] = [b["callback_data"] for b in reply.buttons if b["text"] == "Forget me"]
    parsed = cb.FORGET_CONFIRM.parse(data)
    assert parsed is not None
    return parsed["key"]


def alerts(reply: Reply) -> list[str]:
    return [a.params.get("text", "") for a in reply.answers if a.params.get("show_alert")]


async def move_to_day(world: World, days: float) -> None:
    target = START + timedelta(days=days)
    world.clock.advance(seconds=(target - world.clock.now()).total_seconds())
    await world.tick()


# --- the whole story ---------------------------------------------------------------------


async def a_resident_who_used_everything(world: World) -> dict[str, Any]:
    await world.tick()  # the wake at start-up
    sam = person_with_id(world, SAM)
    await sam.says(f"/start {KINGSMEAD}")
    assert (await sam.taps("At once")).answers

    neighbour = world.person()
    await neighbour.says(f"/start {KINGSMEAD}")
    theirs = await raise_concern(
        neighbour, "Vandalism", "Graffiti all over the bus shelter on Mill Lane."
    )
    await sam.says("/concern")
    await sam.taps("Vandalism")
    await sam.says("The bus shelter on Mill Lane is covered in graffiti again.")
    await sam.taps("Skip")
    await sam.taps("Skip")
    await sam.taps(f"Me too: {theirs}")

    answered = await raise_concern(sam, "Road safety", ANSWERED)
    lat, lon, _ = SYNTHETIC_POINTS["inside_kingsmead"]
    unanswered = await raise_concern(sam, "Noise", UNANSWERED, place=(lat, lon), photo=True)

    team = await join_as(world, KINGSMEAD, Role.TEAM_MEMBER)
    assert "Answer on its way" in (await team.says(f"/respond {answered} {ANSWER}")).text
    await world.delivered()

    # "Did it make a difference?" 28 days after the answer; Sam says 4.
    await move_to_day(world, 28.01)
    rated = await sam.taps("4")
    assert [a.params.get("text") for a in rated.answers] == ["Thank you."]

    # Sam joins the ward panel and the youth panel, schedules a meeting and opens a vote.
    for role in (Role.PANEL_MEMBER, Role.YOUTH):
        joined = await sam.says(f"/join {await invite_code(world, KINGSMEAD, role)}")
        assert "You are now a" in joined.text
    await role_store.set_focus(world.db, SAM, KINGSMEAD)
    assert "scheduled" in (await sam.says(MEETING)).text
    youth = await young_person(world)
    vote_id = await open_vote(world, sam)
    assert ballot_message(world, sam, vote_id) is not None
    await pick(world, sam, vote_id, 1)
    await pick(world, sam, vote_id, 3)
    await pick(world, youth, vote_id, 1)
    await world.delivered()
    return {
        "sam": sam,
        "theirs": theirs,
        "answered": answered,
        "unanswered": unanswered,
        "vote_id": vote_id,
        "team": team,
    }


async def test_mydata_then_keep_then_forget_leaves_no_row_naming_them(
    make_world: WorldFactory, synthetic_db: Path
) -> None:
    # One person does a great deal here, faster than a person could: no flood control.
    world = await make_world(synthetic_db, flood_burst=10_000)
    story = await a_resident_who_used_everything(world)
    sam: Person = story["sam"]
    vote_id: int = story["vote_id"]

    # A concern being written: /mydata shows the draft; /forget waits until it is stopped.
    await sam.says("/concern")
    await sam.taps("Drugs")

    # --- /mydata ----------------------------------------------------------------------
    reply = await sam.says("/mydata")
    upload, caption = document_of(reply)
    assert upload["filename"] == "wardvoice-mydata.json"
    assert "Everything WardVoice keeps about you" in caption and "/forget" in caption
    text = upload.content.decode("utf-8")
    assert "—" in text and "\\u2014" not in text, "ensure_ascii=False"
    assert text.startswith('{\n  "about"'), "indent 2"
    data = json.loads(text)
    assert data["user_id"] == SAM
    assert data["resident"]["ward_code"] == KINGSMEAD
    assert data["resident"]["updates"] == "instant"
    assert data["concern_draft"]["category"] == "drugs"
    raised = {c["ref"]: c for c in data["concerns_raised"]}
    assert set(raised) == {story["answered"], story["unanswered"]}
    assert raised[story["answered"]]["text"] == ANSWERED
    events = raised[story["answered"]]["events"]
    assert [(e["text"], e["by"]) for e in events if e["kind"] == "response"] == [(ANSWER, "staff")]
    assert events[0]["by"] == "you" and events[0]["to_status"] == "received"
    assert raised[story["unanswered"]]["photo_file_id"]
    assert raised[story["unanswered"]]["lat"] is not None
    assert [m["ref"] for m in data["me_too"]] == [story["theirs"]]
    assert [(r["ref"], r["score"]) for r in data["ratings"]] == [(story["answered"], 4)]
    [ballot] = data["ballots"]
    assert ballot["vote_id"] == vote_id and ballot["vote_state"] == "open"
    assert [p["position"] for p in ballot["picked"]] == [1, 3]
    assert {(r["scope"], r["role"]) for r in data["roles"]} == {
        (KINGSMEAD, "panel_member"),
        (KINGSMEAD, "youth"),
    }
    assert len(data["invites_used"]) == 2
    assert data["staff_focus"] == {"scope": KINGSMEAD}
    assert any(m["kind"] == "vote" for m in data["messages"])
    assert any(m["kind"] == "followup" for m in data["messages"])
    staff = data["as_staff"]
    [meeting] = staff["meetings"]
    assert meeting["venue"] == "St Mark's Church Hall, Mill Lane" and meeting["scheduled_by_you"]
    assert [v["id"] for v in staff["votes"]] == [vote_id]
    assert {line["action"] for line in staff["audit_log"]} >= {"join", "schedule_meeting"}
    # Nobody else is named in it: not the staff member who answered, not the neighbour.
    other_ids = {
        int(r[0])
        for r in await world.db.fetchall("SELECT user_id FROM residents WHERE user_id != ?", (SAM,))
    }
    assert not [uid for uid in other_ids if str(uid) in text]

    # --- /forget while writing a concern: stop it first ---------------------------------
    refused = await sam.says("/forget")
    assert "Send /cancel to stop it first" in refused.text and not refused.buttons
    await sam.says("/cancel")

    # --- /forget, then "Keep my data": nothing changes -----------------------------------
    await world.delivered()
    before = await dump(world.db)
    prompt = await sam.says("/forget")
    assert "Forget me?" in prompt.text
    assert "You also lose your roles: panel member for Kingsmead" in prompt.text
    assert "youth panel member for Kingsmead" in prompt.text
    assert "/mydata" in prompt.text
    key = prompt_key(prompt)
    assert cb.FORGET_CONFIRM.build(key=key).count(str(SAM)) == 0, "nothing personal"
    kept = await sam.taps("Keep my data")
    assert "Nothing was erased" in kept.text
    await world.delivered()
    assert await dump(world.db) == before

    # --- forged presses: without a prompt, by someone else, with another prompt's key ------
    stale = await sam.presses(cb.FORGET_CONFIRM.build(key=key))
    assert alerts(stale) == ["This button is no longer valid. Send /forget to ask again."]
    prompt = await sam.says("/forget")
    key = prompt_key(prompt)
    mallory = world.person()
    copied = copy.deepcopy(world.api.messages(SAM)[-1])  # Sam's prompt, in Mallory's chat
    copied["chat"] = mallory.sim.chat
    forged = await mallory.presses(cb.FORGET_CONFIRM.build(key=key), copied)
    assert alerts(forged) == ["This button is no longer valid. Send /forget to ask again."]
    assert await resident_store.get(world.db, mallory.user_id) is None, "no row made for them"
    other_key = "22222222" if key != "22222222" else "33333333"
    assert alerts(await sam.presses(cb.FORGET_CONFIRM.build(key=other_key)))
    await world.delivered()
    assert await resident_store.get(world.db, SAM) is not None
    assert await rows_naming(world.db, SAM), "the scan finds them while they are here"

    tally = await vote_store.tally(world.db, vote_id)
    assert tally[1] == 2 and tally[3] == 1
    concerns_before = await world.db.fetchval("SELECT count(*) FROM concerns")
    satisfaction = await rating_store.satisfaction(world.db, [KINGSMEAD], "2026", "2028")

    sams_chat = {"type": "chat", "chat_id": SAM}
    assert world.api.commands_for(sams_chat), "a panel member's chat has the staff menu"

    # --- "Forget me" ------------------------------------------------------------------
    done = await sam.taps("Forget me")
    assert [a.params.get("text") for a in done.answers] == ["Done."]
    shown = world.api.messages(SAM)[-1]["text"]
    assert "you have been forgotten" in shown and "/start" in shown
    await world.delivered()
    assert world.api.commands_for(sams_chat) == [], "the staff menu went with the roles"

    assert await rows_naming(world.db, SAM) == []
    assert await world.db.integrity_check() == "ok"
    assert await world.db.fetchall("PRAGMA foreign_key_check") == []
    wal = world.db.path.with_name(world.db.path.name + "-wal")
    raw = world.db.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert f"tg:{SAM}".encode() not in raw and ANSWERED.encode() in raw
    assert UNANSWERED.encode() not in raw, "erased text is not left in free pages or the WAL"

    # What belongs to everyone stays, unlinked.
    answered = await concern_store.by_ref(world.db, story["answered"])
    unanswered = await concern_store.by_ref(world.db, story["unanswered"])
    assert answered is not None and answered.text == ANSWERED and answered.raised_by is None
    assert unanswered is not None and unanswered.raised_by is None
    assert (unanswered.text, unanswered.lat, unanswered.lon, unanswered.photo_file_id) == (
        "",
        None,
        None,
        None,
    )
    assert (unanswered.category, unanswered.ward_code, unanswered.status) == (
        "noise",
        KINGSMEAD,
        "received",
    )
    assert await world.db.fetchval("SELECT count(*) FROM concerns") == concerns_before
    card = await story["team"].presses(cb.STAFF_CONCERN.build(id=str(unanswered.id)))
    assert "[erased at the request of whoever raised it]" in card.text
    theirs = await concern_store.by_ref(world.db, story["theirs"])
    assert theirs is not None and theirs.supporters == 0
    assert await rating_store.satisfaction(world.db, [KINGSMEAD], "2026", "2028") == satisfaction
    assert await vote_store.tally(world.db, vote_id) == tally
    assert await vote_store.ballot_count(world.db, vote_id) == 2
    assert (
        await world.db.fetchval("SELECT count(*) FROM meetings WHERE created_by = 'forgotten'") == 1
    )
    assert (
        await world.db.fetchval(
            "SELECT count(*) FROM votes WHERE created_by = 'forgotten' AND opened_by = 'forgotten'"
        )
        == 1
    )
    # The invites Sam used stay spent, though they no longer say by whom.
    for invite in data["invites_used"]:
        again = await world.person().says(f"/join {invite['code']}")
        assert "already been used" in again.text

    # A repeated press changes nothing and brings nobody back.
    again = await sam.presses(cb.FORGET_CONFIRM.build(key=key))
    assert alerts(again) and await rows_naming(world.db, SAM) == []

    # The vote still closes and publishes with Sam's ballot counted, to nobody unknown.
    vote = await vote_store.get(world.db, vote_id)
    assert vote is not None and vote.closes_at is not None
    closes_at = datetime.fromisoformat(vote.closes_at)
    world.clock.advance(seconds=(closes_at - world.clock.now()).total_seconds() + 60)
    await world.tick()
    closed = await vote_store.get(world.db, vote_id)
    assert closed is not None and closed.state == "closed" and closed.voters == 2
    assert [i.votes for i in closed.items] == [2, 0, 1]
    assert await rows_naming(world.db, SAM) == []

    # /start: a new, empty resident.
    fresh = await sam.says("/start")
    assert "Welcome to WardVoice" in fresh.text
    resident = await resident_store.get(world.db, SAM)
    assert resident is not None and resident.ward_code is None and resident.updates == "off"
    assert resident.created_at == world.clock.now().replace(microsecond=0).isoformat()
    mine = await sam.says("/myconcerns")
    assert story["answered"] not in mine.text and "haven't raised any concerns" in mine.text
    data = json.loads(document_of(await sam.says("/mydata"))[0].content)
    assert data["concerns_raised"] == [] and data["roles"] == [] and data["ballots"] == []


async def test_a_press_without_any_prompt_is_refused_and_creates_nobody(world: World) -> None:
    stranger = world.person()
    message = {
        "message_id": 1,
        "date": int(world.clock.now().timestamp()),
        "chat": stranger.sim.chat,
    }
    for data in (cb.FORGET_CONFIRM.build(key="7K2FQ9AB"), cb.FORGET_KEEP.build(key="7K2FQ9AB")):
        pressed = await stranger.presses(data, message)
        assert alerts(pressed) == ["This button is no longer valid. Send /forget to ask again."]
    assert await resident_store.get(world.db, stranger.user_id) is None


async def test_a_prompt_older_than_a_day_no_longer_forgets(world: World) -> None:
    person = world.person()
    await person.says(f"/start {KINGSMEAD}")
    await person.says("/forget")
    world.clock.advance(hours=privacy_domain.PROMPT_HOURS, seconds=1)
    late = await person.taps("Forget me")
    assert alerts(late)
    assert await resident_store.get(world.db, person.user_id) is not None


async def test_privacy_says_how_long_who_sees_what_and_names_the_commands(world: World) -> None:
    person = world.person()
    shown = (await person.says("/privacy")).text
    settings = world.services.settings
    assert f"{settings.retention_days} days" in shown
    assert f"{settings.outbox_retention_days} days" in shown
    assert "never your name or Telegram account" in shown
    assert "/mydata" in shown and "/forget" in shown
    help_text = (await person.says("/help")).text
    assert "/mydata" in help_text and "/forget" in help_text and "/privacy" in help_text
    [call] = [
        c
        for c in world.api.calls
        if c.method == "setMyCommands" and "language_code" not in c.params
    ]
    menu = [c["command"] for c in call.params["commands"]]
    assert {"privacy", "mydata", "forget"} <= set(menu)


# --- storage: the outbox and the pending prompt ------------------------------------------


async def test_forgetting_the_last_recipient_of_a_broadcast_finishes_it(db: Database) -> None:
    now = START.isoformat()
    for user_id in (SAM, 42):
        await resident_store.get_or_create(db, user_id, "en", now)
    item = await outbox_store.enqueue(
        db,
        Envelope(
            kind="broadcast",
            texts={"en": "Hello"},
            recipients=[Recipient(SAM), Recipient(42)],
            created_by="tg:42",
        ),
        now,
    )
    assert item is not None
    await db.execute("UPDATE outbox SET state = 'sent' WHERE chat_id = 42")
    done = await privacy_store.forget(db, SAM, now)
    assert done is not None and done.finished_items == [item] and done.messages == 1
    finished = await outbox_store.item(db, item)
    assert finished is not None and finished.state == "done"
    assert await rows_naming(db, SAM) == []


async def test_forget_needs_the_prompts_own_token(db: Database) -> None:
    now = START.isoformat()
    await resident_store.get_or_create(db, SAM, "en", now)
    await privacy_store.ask_to_forget(db, SAM, "7K2FQ9AB", now)
    assert await privacy_store.forget(db, SAM, now, token="22222222", asked_after="") is None
    assert await resident_store.get(db, SAM) is not None
    assert await privacy_store.forget(db, SAM, now, token="7K2FQ9AB", asked_after="") is not None
    assert await resident_store.get(db, SAM) is None
    assert await rows_naming(db, SAM) == []


async def test_a_forgotten_admin_leaves_their_broadcasts_and_grants_unnamed(db: Database) -> None:
    now = START.isoformat()
    await resident_store.get_or_create(db, SAM, "en", now)
    await role_store.grant_admin(db, SAM, by="cli", now=now)
    await role_store.grant(db, SAM, KINGSMEAD, "team_member", by="cli", now=now)
    await audit.write(
        db, at=now, actor="cli", action="grant", scope=None, target=f"{SAM}:admin", outcome="done"
    )
    sent = await outbox_store.create_draft(
        db,
        Envelope(kind="broadcast", texts={"en": "Sent"}, recipients=(), created_by=f"tg:{SAM}"),
        now,
    )
    await outbox_store.set_progress_message(db, sent, SAM, 12)
    await db.execute("UPDATE outbox_items SET state = 'done' WHERE id = ?", (sent,))
    unsent = await outbox_store.create_draft(
        db,
        Envelope(kind="broadcast", texts={"en": "Draft"}, recipients=(), created_by=f"tg:{SAM}"),
        now,
    )
    done = await privacy_store.forget(db, SAM, now)
    assert done is not None and done.roles == 2
    assert await rows_naming(db, SAM) == []
    kept = await outbox_store.item(db, sent)
    assert kept is not None and kept.created_by == "forgotten" and kept.progress_chat is None
    assert await outbox_store.item(db, unsent) is None, "a draft only they could send goes"
    [line] = await audit.recent(db)
    assert line.target == "forgotten:admin"
