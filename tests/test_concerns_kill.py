"""`wardvoice run` killed with SIGKILL while residents file concerns: nothing confirmed is lost.

Forty residents file concerns at once against the real bot process (long polling the fake
Bot API on 127.0.0.1). Once 15 of them have been given a reference the process is killed
outright, then started again on the same database, and every resident carries on as a
person would: an unanswered step is sent again, a prompt still on screen is answered. Five
of them are reading a prompt when the bot dies (one at each step) and answer it after.

What must hold:
- every reference the bot sent before it died is in the database and in that resident's
  /myconcerns;
- nobody's concern is filed twice (one concern per resident and per draft, no reference
  twice), and the database passes `PRAGMA integrity_check`;
- residents who were mid-way carry on where they were: their conversation comes back from
  the draft table, so the prompt they were looking at still works after the restart, and
  everyone ends with a reference of their own.

python-telegram-bot's long polling confirms updates when it fetches them, so an update
fetched but not handled when the process died is gone: the driver sends a step again when
it got no answer a few seconds after the restarted bot is up, as a person would.

A resident can also be left with nothing to answer: the bot died after recording their step
but before asking its question, or after taking the buttons off a message but before
recording the press. Such a resident asks the bot (/concern) and, if it cannot show them
where they were, cancels and starts again (see STRANDED_MAY_START_OVER).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from handlers import callback_data as cb
from tests.conftest import import_into
from tests.fakes.bot_api import ApiCall, FakeBotAPI, parse_html
from tests.fakes.users import SimUser
from tests.processes import spawn_wardvoice
from tests.synthetic import synthetic_wards_geojson

WARD = "E05900002"  # Kingsmead, Northbank
TEXT = "Loud music from the flat above until three in the morning, every night this week."
REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")

RESIDENTS = 40
KILL_AFTER_REFS = 15
FIRST_USER = 70_001
PROBE_USER = 69_999
# Residents who are reading a prompt when the bot dies, and answer it after the restart:
# resident number -> the step they pause on.
PAUSERS = {0: "category", 1: "text", 2: "place", 3: "photo", 4: "review"}
STARTUP_WITHIN = 30.0  # generous: a shared machine
ANSWER_WITHIN = 30.0  # a live bot answers in milliseconds
RESEND_AFTER = 3.0  # after the restart, a step sent before it and still unanswered is resent
TICK = 0.5  # how often a waiting resident looks at the clock

# The bot can leave a resident with no prompt to answer when it dies mid-step (it records
# the step before asking its question, and takes buttons off a message before recording
# the press), and neither a reprompt nor /concern asks the question again, so such a
# resident can only /cancel and start over. Set this to False once the bot re-asks the
# step it is on: then every resident mid-way must carry on with the draft they had.
STRANDED_MAY_START_OVER = False

# The conversation as the resident sees it: what the bot last asked for, in order.
STEPS = ("new", "placed", "category", "text", "place", "photo", "review", "done")
RANK = {step: n for n, step in enumerate(STEPS)}
BUTTON_STEPS = ("category", "place", "photo", "review")
REPROMPTS = {
    "Please tap one of the categories above": "category",
    "Please type what happened": "text",
    "Please share the location with the button below": "place",
    "Please send a photo, tap Skip": "photo",
    "Please tap Send, change something": "review",
    "You're in the middle of a concern": "unknown",
}
FAILURES = (
    "Sorry, something went wrong",
    "concerns in the last 24 hours",
    "You haven't raised any concerns yet",
    "To change your ward, send /ward",  # a concern's text taken for a ward search
)


@dataclass(frozen=True)
class Reading:
    """What one bot call tells a resident."""

    kind: str  # progress | reprompt | refused | cancelled | list | help | failure
    step: str | None = None
    key: str | None = None
    ref: str | None = None
    text: str = ""


def _visible(call: ApiCall) -> str:
    text = call.text or ""
    return parse_html(text)[0] if call.params.get("parse_mode") == "HTML" else text


def _button_data(call: ApiCall) -> Iterator[str]:
    for row in call.buttons:
        for button in row:
            if "callback_data" in button:
                yield str(button["callback_data"])


def _step_button(step: str, key: str) -> str:
    """The callback data of the button that answers a step's prompt."""
    if step == "category":
        return cb.CONCERN_CATEGORY.build(key=key, category="noise")
    if step in ("place", "photo"):
        return cb.CONCERN_SKIP.build(key=key, step=step)
    assert step == "review", step
    return cb.CONCERN_SEND.build(key=key)


def read_message(call: ApiCall) -> Reading | None:
    """A sendMessage in the resident's chat, as the resident understands it."""
    for data in _button_data(call):
        for fmt, step in ((cb.CONCERN_CATEGORY, "category"), (cb.CONCERN_SEND, "review")):
            parsed = fmt.parse(data)
            if parsed is not None:
                return Reading("progress", step, key=parsed["key"])
        skip = cb.CONCERN_SKIP.parse(data)
        if skip is not None:
            return Reading("progress", skip["step"], key=skip["key"])
    text = _visible(call)
    if "Your reference is" in text:
        match = REF.search(text)
        assert match, text
        return Reading("progress", "done", ref=match.group(0), text=text)
    if "What happened?" in text:
        return Reading("progress", "text", text=text)
    if "You're in Kingsmead" in text:
        return Reading("progress", "placed", text=text)
    for start, step in REPROMPTS.items():
        if text.startswith(start):
            return Reading("reprompt", step, text=text)
    if text.startswith("Your concerns"):
        return Reading("list", text=text)
    if text.startswith("What I can do"):
        return Reading("help", text=text)
    if text.startswith(("Cancelled. Nothing was sent.", "There's nothing to cancel.")):
        return Reading("cancelled", text=text)
    if any(failure in text for failure in FAILURES):
        return Reading("failure", text=text)
    return None


def read_answer(call: ApiCall) -> Reading | None:
    """An answerCallbackQuery to one of the resident's presses."""
    text = str(call.params.get("text") or "")
    if not text:
        return None  # a plain answer: the next prompt follows
    if text.startswith("Already sent as"):
        match = REF.search(text)
        assert match, text
        return Reading("progress", "done", ref=match.group(0), text=text)
    return Reading("refused", text=text)


@dataclass
class Run:
    api: FakeBotAPI
    enough_refs: asyncio.Event = field(default_factory=asyncio.Event)
    restarted: asyncio.Event = field(default_factory=asyncio.Event)
    refs: set[str] = field(default_factory=set)
    ready_at: float | None = None  # loop time the restarted bot answered its first update

    def saw_ref(self, ref: str) -> None:
        self.refs.add(ref)
        if len(self.refs) >= KILL_AFTER_REFS:
            self.enough_refs.set()


class Resident:
    """One resident filing a concern, one step at a time, like a person with a phone.

    `state` is what the bot last asked for (a step of STEPS), or what the resident is
    doing about having nothing to answer: "stranded" (asks with /concern, then /help to
    know the bot has said all it will), "stuck" (/cancel, to start over), "lookup" (the
    review said Sent but no reference came: /myconcerns).
    """

    def __init__(self, run: Run, user_id: int, pause_at: str | None = None) -> None:
        self.run = run
        self.api = run.api
        self.sim = SimUser(user_id, first_name=f"Resident{user_id}")
        self.chat_id = user_id
        self.pause_at = pause_at
        self.state = "new"
        self.key: str | None = None
        self.ref: str | None = None
        self.placed = asyncio.Event()
        self.paused = asyncio.Event()
        self.started_over: list[str] = []  # steps where nothing was left to answer
        self.resent = 0
        self.trace: list[str] = []
        self._queries: set[str] = set()  # callback query ids of the step in hand
        self._shown: Reading | None = None  # the prompt /concern showed a stranded resident

    async def file(self) -> None:
        while self.state != "done":
            if self.state == self.pause_at and not self.run.restarted.is_set():
                self.paused.set()
                await self.run.restarted.wait()
            await self._step()

    # --- what the resident sends ---------------------------------------------------------

    def _button_message(self, data: str) -> dict | None:
        """The bot message in the chat that shows a button with this data, if any."""
        for message in reversed(self.api.messages(self.chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
            if any(button.get("callback_data") == data for row in rows for button in row):
                return message
        return None

    def _updates(self) -> list[dict] | None:
        """The updates for the step in hand; None when the button it needs is not shown."""
        update = self._update()
        if update is None:
            return None
        if self.state == "stranded":
            # The answer to /help comes after everything the bot says about /concern:
            # one resident's updates are handled in order.
            self._shown = None
            return [update, self.sim.message("/help")]
        return [update]

    def _update(self) -> dict | None:
        if self.state in BUTTON_STEPS:
            data = _step_button(self.state, self.key or "")
            message = self._button_message(data)
            if message is None:
                return None
            update = self.sim.callback(data, message=message)
            self._queries.add(update["callback_query"]["id"])
            return update
        text = {
            "new": f"/start {WARD}",
            "placed": "/concern",
            "text": TEXT,
            "stranded": "/concern",
            "stuck": "/cancel",
            "lookup": "/myconcerns",
        }[self.state]
        return self.sim.message(text)

    async def _step(self) -> None:
        self._queries = set()
        updates = self._updates()
        if updates is None:
            self._stranded()
            return
        loop = asyncio.get_running_loop()
        cursor = len(self.api.calls)
        for update in updates:
            self.api.push_update(update)
        pushed_at = began = loop.time()
        while True:
            reading, cursor = await self._next_reading(cursor)
            if reading is not None and self._take(reading):
                return
            now = loop.time()
            ready = self.run.ready_at
            if ready is not None and pushed_at < ready and now - ready > RESEND_AFTER:
                # Sent to the bot that died and never answered: send it again.
                self.resent += 1
                self.trace.append(f"resend {self.state}")
                updates = self._updates()
                if updates is None:
                    self._stranded()
                    return
                for update in updates:
                    self.api.push_update(update)
                pushed_at = now
            elif ready is not None and now - max(began, ready) > ANSWER_WITHIN:
                raise AssertionError(f"{self.chat_id} got no answer at {self.state}: {self.trace}")

    async def _next_reading(self, cursor: int) -> tuple[Reading | None, int]:
        """The next call to this resident (from `cursor`), read; waits up to TICK seconds."""
        calls = self.api.calls
        if cursor >= len(calls):
            try:
                await self.api.wait_for_call(since=cursor, within=TICK)
            except TimeoutError:
                return None, cursor
        call = calls[cursor]
        if call.status is None:  # still being answered (not seen in practice)
            await asyncio.sleep(0)
            return None, cursor
        reading = None
        if call.ok and call.chat_id == self.chat_id and call.method == "sendMessage":
            reading = read_message(call)
        elif call.ok and call.method == "answerCallbackQuery":
            if str(call.params.get("callback_query_id")) in self._queries:
                reading = read_answer(call)
        return reading, cursor + 1

    # --- what the resident makes of the answer --------------------------------------------

    def _take(self, reading: Reading) -> bool:
        """Act on what the bot said; True once the step in hand is answered."""
        self.trace.append(f"{self.state}: {reading.kind} {reading.step or ''}".rstrip())
        if reading.kind == "failure":
            raise AssertionError(f"resident {self.chat_id}: {reading.text!r}; {self.trace}")
        if self.state == "stranded":
            return self._asked(reading)
        if reading.kind == "progress":
            assert reading.step is not None
            if reading.step != "done" and (
                self.state in ("stuck", "lookup") or RANK[reading.step] <= RANK[self.state]
            ):
                return False  # an answer to an update that was sent twice
            self._progress(reading)
            return True
        if self.state == "stuck":
            if reading.kind == "cancelled":
                self.state, self.key = "placed", None
                return True
            return False
        if self.state == "lookup":
            return reading.kind == "list" and self._looked_up(reading.text)
        if reading.kind == "refused":
            self._stranded(f"press refused: {reading.text}")
            return True
        if reading.kind != "reprompt" or self.state not in ("placed", "text"):
            return False  # reprompts only answer typed steps; others are strays
        if reading.step == "unknown":  # "You're in the middle of a concern"
            self._stranded("/concern: in the middle of one")
        else:
            self.state = reading.step or ""  # the bot is on this step: its button may be shown
        return True

    def _asked(self, reading: Reading) -> bool:
        """A stranded resident sent /concern and /help: did the bot show where they are?"""
        if reading.kind == "progress":
            if reading.step == "done":
                self._progress(reading)
                return True
            self._shown = reading
        if reading.kind != "help":
            return False
        if self._shown is None:
            self._start_over("nothing to answer, and /concern did not show the step")
        else:
            self._progress(self._shown)
        return True

    def _progress(self, reading: Reading) -> None:
        assert reading.step is not None
        if reading.key is not None:
            self.key = reading.key
        if reading.ref is not None:
            self.ref = reading.ref
            self.run.saw_ref(reading.ref)
        self.state = reading.step
        if self.state == "placed":
            self.placed.set()

    def _looked_up(self, text: str) -> bool:
        refs = REF.findall(text)
        assert len(refs) <= 1, f"resident {self.chat_id} has {refs}; {self.trace}"
        if refs:
            self._progress(Reading("progress", "done", ref=refs[0]))
        else:
            self._start_over("nothing in /myconcerns")
        return True

    def _stranded(self, why: str = "no button on screen") -> None:
        """Nothing to answer for the step in hand: ask the bot where things are."""
        sent = any(
            (m.get("text") or "").startswith("✅ Sent.") for m in self.api.messages(self.chat_id)
        )
        if self.state == "review" and sent:
            # The review says Sent, but the reference never came: look it up.
            self.trace.append("review: sent, looking up the reference")
            self.state = "lookup"
        else:
            self.trace.append(f"stranded at {self.state} ({why})")
            self.state = "stranded"

    def _start_over(self, why: str) -> None:
        self.trace.append(f"start over ({why})")
        self.started_over.append(why)
        self.state = "stuck"


# --- the bot process ---------------------------------------------------------------------


async def _spawn(api: FakeBotAPI, db: Path, log: IO[bytes]) -> asyncio.subprocess.Process:
    # The default 28 sends a second would make this test take half a minute.
    return await spawn_wardvoice(api, db, log, WARDVOICE_MAX_SEND_RATE="2000")


async def _answered(api: FakeBotAPI, user: SimUser, text: str, *, contains: str) -> str:
    """Send `text` and wait for the bot's message that contains `contains` (or fail)."""
    since = len(api.calls)
    api.push_update(user.message(text))
    while True:
        call = await api.wait_for_call(
            user.chat_id, method="sendMessage", since=since, within=STARTUP_WITHIN
        )
        since = next(i for i in range(since, len(api.calls)) if api.calls[i] is call) + 1
        seen = _visible(call)
        if contains in seen:
            return seen
        for failure in FAILURES:
            assert failure not in seen, f"{user.chat_id} sent {text!r}: {seen!r}"


def _drafts(db: Path) -> dict[int, tuple[str, str]]:
    """user id -> (draft key, step) as the database holds them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user_id, draft_key, step FROM concern_drafts").fetchall()
    return {int(user): (str(key), str(step)) for user, key, step in rows}


def _last_prompt(api: FakeBotAPI, chat_id: int) -> tuple[str | None, str | None]:
    """(draft key, step) of the last prompt the bot sent to a chat."""
    key, step = None, None
    for call in api.calls:
        if call.ok and call.chat_id == chat_id and call.method == "sendMessage":
            reading = read_message(call)
            if reading is not None and reading.kind == "progress":
                key, step = reading.key or key, reading.step
    return key, step


def _can_carry_on(api: FakeBotAPI, chat_id: int, key: str, step: str) -> bool:
    """Whether the chat shows the prompt of this draft's step, ready to be answered."""
    if step == "text":
        return _last_prompt(api, chat_id) == (key, "text")
    data = _step_button(step, key)
    return any(
        button.get("callback_data") == data
        for message in api.messages(chat_id)
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in row
    )


# --- the test ----------------------------------------------------------------------------


async def test_killing_the_bot_mid_filing_loses_no_confirmed_concern(
    fake_api: FakeBotAPI, tmp_path: Path
) -> None:
    db = tmp_path / "wardvoice.db"
    await import_into(db, synthetic_wards_geojson(tmp_path / "wards.geojson"), None)
    log_path = tmp_path / "bot.log"
    run = Run(fake_api)
    probe = SimUser(PROBE_USER)
    residents = [Resident(run, FIRST_USER + n, PAUSERS.get(n)) for n in range(RESIDENTS)]
    by_chat = {r.chat_id: r for r in residents}

    async def files(n: int) -> None:
        # Two residents start per step of the one before, so the kill finds them spread
        # over every step of the conversation.
        if n >= 2:
            await residents[n - 2].placed.wait()
        await residents[n].file()

    tasks: list[asyncio.Task[None]] = []
    with log_path.open("wb") as log:
        bot = await _spawn(fake_api, db, log)
        try:
            await _answered(fake_api, probe, "/help", contains="What I can do")
            tasks += [asyncio.create_task(files(n)) for n in range(RESIDENTS)]
            pausing = [r.paused.wait() for r in residents if r.pause_at]
            await asyncio.wait_for(asyncio.gather(run.enough_refs.wait(), *pausing), ANSWER_WITHIN)
            bot.kill()
            await bot.wait()
            killed_at = len(fake_api.calls)
            drafts_at_kill = _drafts(db)
            carry_on = {  # residents looking at the prompt their draft is on
                user: key
                for user, (key, step) in drafts_at_kill.items()
                if _can_carry_on(fake_api, user, key, step)
            }

            bot = await _spawn(fake_api, db, log)
            await _answered(fake_api, probe, "/help", contains="What I can do")
            run.ready_at = asyncio.get_running_loop().time()
            run.restarted.set()
            await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_WITHIN * 2)
            listed = await asyncio.gather(
                *(_answered(fake_api, r.sim, "/myconcerns", contains="Your concerns")
                  for r in residents)
            )  # fmt: skip
        finally:
            for task in tasks:
                task.cancel()
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                await asyncio.wait_for(bot.wait(), STARTUP_WITHIN)
    log_text = log_path.read_text()
    assert bot.returncode == 0, log_text
    assert "Traceback" not in log_text and "ERROR" not in log_text, log_text

    # Every reference the bot sent before it died, per chat, read off the wire.
    confirmed: dict[int, str] = {}
    for call in fake_api.calls[:killed_at]:
        if call.method == "sendMessage" and call.ok and "Your reference is" in (call.text or ""):
            match = REF.search(call.text or "")
            assert match and call.chat_id in by_chat, call
            assert call.chat_id not in confirmed, "one reference per resident"
            confirmed[call.chat_id] = match.group(0)
    assert len(confirmed) >= KILL_AFTER_REFS
    assert drafts_at_kill, "some residents were mid-way through a concern when the bot died"

    for resident, text in zip(residents, listed, strict=True):
        assert resident.ref is not None, resident.trace
        assert resident.ref in text, f"{resident.ref} not in /myconcerns: {text}"
    for chat_id, ref in confirmed.items():
        assert by_chat[chat_id].ref == ref, "a confirmed reference is the resident's concern"
    assert len({r.ref for r in residents}) == RESIDENTS, "every resident has their own reference"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT id, raised_by, ref, draft_key FROM concerns WHERE raised_by BETWEEN ? AND ?",
            (FIRST_USER, FIRST_USER + RESIDENTS - 1),
        ).fetchall()
        received = dict(
            conn.execute(
                "SELECT concern_id, count(*) FROM concern_events"
                " WHERE kind = 'status' AND to_status = 'received' GROUP BY concern_id"
            ).fetchall()
        )
        drafts_left = conn.execute("SELECT count(*) FROM concern_drafts").fetchone()[0]
    assert len(rows) == RESIDENTS, "exactly one concern per resident"
    assert {user: ref for _, user, ref, _ in rows} == {r.chat_id: r.ref for r in residents}
    assert len({ref for _, _, ref, _ in rows}) == RESIDENTS, "no reference twice"
    assert len({key for _, _, _, key in rows}) == RESIDENTS, "one concern per draft"
    assert all(received.get(id_) == 1 for id_, *_ in rows), "each has one 'received' event"
    assert drafts_left == 0, "every draft was filed or cancelled"

    # The conversation came back from the draft table: residents looking at the prompt
    # their draft was on answered it after the restart and filed that same draft.
    filed_from = {user: key for _, user, _, key in rows}
    pausers = {FIRST_USER + n for n in PAUSERS}
    assert pausers <= set(carry_on), "every pauser was reading their prompt at the kill"
    must_carry_on = set(drafts_at_kill) if not STRANDED_MAY_START_OVER else set(carry_on)
    for user_id in must_carry_on:
        resident = by_chat[user_id]
        assert not resident.started_over, f"{user_id} started over: {resident.trace}"
        assert filed_from[user_id] == drafts_at_kill[user_id][0], f"{user_id}: {resident.trace}"
