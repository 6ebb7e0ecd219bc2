"""Handler overhead: `wardvoice run` against a bare python-telegram-bot echo bot, same load.

Run by hand:  /work/venv/bin/python bench/overhead.py [--residents 64] [--seconds 15]
                  [--rounds 3] [--arrival-residents 200] [--arrival-seconds 25] [--think 5]
                  [--baseline DIR] [--profile FILE.txt|FILE.svg] [--logs DIR]

Every bot runs in a process of its own (`wardvoice run`, or bench/echo_bot.py), polling a
fake Bot API of its own (`bot.standin.bot_api.FakeBotAPI`, without Telegram's limits); the
fakes and the load generator share this process, so each bot's CPU is its own. WardVoice
runs on a copy of a database with all England and Wales wards and the London postcode
sample imported (built once and cached under the temporary directory, keyed on the data
files' and the migrations' modification times). A bot counts as up once it answered /help.

Simulated residents, each a new Telegram user, go through the same ten updates: /start,
finding their ward (half type a real London postcode, half share its point), /priorities,
the whole /concern conversation (category button, text, Skip place, Skip photo, Send) and
/myconcerns. The echo bot gets exactly the same updates (its button presses carry the same
kind of data) and answers each with one message or one answerCallbackQuery. How many
replies each step gets (sendMessage, editMessageText, answerCallbackQuery to that chat) is
learnt once per kind of bot from two residents going through slowly; a step is done when
all of them have reached the fake, and a reply that does not come within two minutes is
missing.

Two load shapes:
- saturation: `--residents` residents back-to-back, each pushing its next step as soon as
  the previous one is done (a resident who has finished is replaced by a new one); reports
  steps done per second, and the ratio WardVoice / echo bot. The bots take turns
  (`--rounds`, each measuring `--seconds`/rounds after a warm-up), so a machine that slows
  down during the run weighs on every bot alike; the ratio of each round is shown too.
  The echo bot runs twice: with PTB's default HTTP backend (httpx, the reference the goal
  is stated against) and with WardVoice's own (bot/http.py AiohttpRequest), so the ratio
  is not flattered by httpx's cost per call.
- arrival rate, as FIELD-NOTES states the latency goal: `--arrival-residents` people each
  sending their next step on average every `--think` seconds (Poisson: exponential gaps,
  never before the previous step was answered), about 40 updates a second for 200.
  Reports p50/p95/p99 from pushing an update to the first reply to it reaching the fake
  ("first reply"), and to the last one ("step done").

WardVoice paces every send through its own token bucket (bot/pacing.py). For the handler
overhead it runs with WARDVOICE_MAX_SEND_RATE=10000; the arrival shape is then measured
once more at the default 28 a second, Telegram's overall limit, where at 40 updates a second
the paced replies alone (about 1.7 an update; answerCallbackQuery is not paced) are more
than the limit allows: that latency is the limit's, not the handlers'.
WARDVOICE_MAX_CONCERNS_PER_DAY is raised; the per-user flood limit (20 updates in 10 s,
bot/flood.py) is never reached, as each resident sends ten updates in all.

Also reported: the CPU seconds each bot process used per second of saturation and per
update (from /proc), the load generator's own CPU, ERROR lines in each bot's log, failed
Bot API calls, missing and unexpected replies. Human lines, then one JSON line; exit
status 1 if a bot logged an error, a reply is missing or unexpected, or a Bot API call
failed.

For finding and checking a fix: `--baseline DIR` adds WardVoice from another source tree
(e.g. `mkdir DIR && git archive HEAD | tar -x -C DIR`) to the saturation rounds, with a
database imported by its own code; `--profile FILE` records WardVoice's first measured
slice with py-spy (`pip install py-spy`); `--logs DIR` keeps each bot's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from harness import latency_summary, process_cpu_seconds  # noqa: E402

from bot.domain.categories import CATEGORIES  # noqa: E402
from bot.standin.bot_api import ApiError, FakeBotAPI  # noqa: E402
from bot.standin.users import SimUser  # noqa: E402
from handlers import callback_data as cb  # noqa: E402

DATA = REPO.parent / "shared" / "data"
WARDS_FILE = DATA / "england_wales_wards_2022_bsc.geojson"
POSTCODES_FILE = DATA / "london_postcodes_sample.csv"
MIGRATIONS = REPO / "storage" / "migrations.py"
WARDVOICE = Path(sys.executable).with_name("wardvoice")
ECHO_BOT = REPO / "bench" / "echo_bot.py"

REPLY_METHODS = ("sendMessage", "editMessageText", "answerCallbackQuery")
STEPS = (
    "start",
    "find ward",
    "priorities",
    "concern",
    "category",
    "text",
    "skip place",
    "skip photo",
    "send",
    "myconcerns",
)
TEXT = "Loud music from the flat above until three in the morning, every night this week."
CATEGORY_CYCLE = tuple(CATEGORIES)
PLACEHOLDER_KEY = "BENCHKEY"  # the echo bot has no drafts; a key of the right shape
FAST_RATE = 10_000.0
DEFAULT_RATE = 28.0
UP_WITHIN = 60.0  # seconds from spawn to the probe's answer
STEP_WITHIN = 120.0  # a reply later than this is missing
QUIET = 0.3  # calibration: a step is over when nothing more came for this long
WARM_UP = 3.0  # seconds of saturation load before the measured window
FIRST_USER = 2_000_001
ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \S+ (ERROR|CRITICAL) ")


# --- the fake Bot API, watching replies --------------------------------------------------


class Chat:
    """One resident's chat as the bench sees it: when each reply arrived, live buttons."""

    __slots__ = ("buttons", "last", "replies", "waiters")

    def __init__(self) -> None:
        self.replies: list[float] = []  # time.monotonic() of each reply's arrival
        self.buttons: dict[int, dict] = {}  # message_id -> a message with inline buttons
        self.last: dict | None = None  # the last message sent to the chat
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []

    def wake(self) -> None:
        if not self.waiters:
            return
        keep = []
        for need, future in self.waiters:
            if len(self.replies) >= need:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((need, future))
        self.waiters = keep

    async def wait(self, count: int, within: float) -> None:
        if len(self.replies) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((count, future))
        await asyncio.wait_for(future, within)

    def message_with(self, data: str) -> dict | None:
        for message in reversed(self.buttons.values()):
            for row in message["reply_markup"]["inline_keyboard"]:
                if any(button.get("callback_data") == data for button in row):
                    return message
        return None

    def draft_key(self) -> str | None:
        for message in reversed(self.buttons.values()):
            for row in message["reply_markup"]["inline_keyboard"]:
                for button in row:
                    parsed = cb.CONCERN_CATEGORY.parse(button.get("callback_data"))
                    if parsed is not None:
                        return parsed["key"]
        return None


class TrackingAPI(FakeBotAPI):
    """FakeBotAPI (no limits, sendMessage not recorded) that notes every reply per chat."""

    def __init__(self) -> None:
        super().__init__(record=False)
        self.chats: dict[int, Chat] = {}
        self.query_chat: dict[str, int] = {}  # callback query id -> its chat
        self.failed: Counter[str] = Counter()
        for method in REPLY_METHODS:
            self._handlers[method] = self._tracked(method, self._handlers[method])

    def chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat()
        return chat

    def push(self, update: dict) -> None:
        query = update.get("callback_query")
        if query is not None:
            self.query_chat[str(query["id"])] = query["message"]["chat"]["id"]
        self.push_update(update)

    def _tracked(self, method: str, inner: Callable[[dict[str, Any]], Any]) -> Any:
        async def handler(params: dict[str, Any]) -> Any:
            try:
                result = await inner(params)
            except ApiError as error:
                self.failed[f"{method}: {error.description}"] += 1
                raise
            self._replied(method, params, result)
            return result

        return handler

    def _replied(self, method: str, params: dict[str, Any], result: Any) -> None:
        now = time.monotonic()
        if method == "answerCallbackQuery":
            chat_id = self.query_chat.pop(str(params.get("callback_query_id")), None)
        else:
            chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            return
        chat = self.chat(chat_id)
        if isinstance(result, dict) and "message_id" in result:
            if (result.get("reply_markup") or {}).get("inline_keyboard"):
                chat.buttons[result["message_id"]] = result
                while len(chat.buttons) > 4:
                    del chat.buttons[next(iter(chat.buttons))]
            else:
                chat.buttons.pop(result["message_id"], None)
            if method == "sendMessage":
                chat.last = result
        chat.replies.append(now)
        chat.wake()


# --- residents -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    postcode: str
    lat: float
    lon: float


@dataclass
class StepResult:
    step: str
    chat_id: int
    pushed: float
    first: float | None = None  # arrival of the first reply
    done: float | None = None  # arrival of the last reply expected
    missing: int = 0


class Session:
    """One resident going through the ten steps, as a new Telegram user."""

    def __init__(self, user_id: int, number: int, place: Place) -> None:
        self.sim = SimUser(user_id, first_name=f"Resident{number}")
        self.place = place
        self.by_location = number % 2 == 1
        self.category = CATEGORY_CYCLE[number % len(CATEGORY_CYCLE)]
        self.key = PLACEHOLDER_KEY

    def label(self, step: str) -> str:
        if step == "find ward":
            return "find ward (location)" if self.by_location else "find ward (postcode)"
        return step

    def update(self, step: str, chat: Chat) -> dict:
        sim = self.sim
        if step == "start":
            return sim.message("/start")
        if step == "find ward":
            if self.by_location:
                return sim.location(self.place.lat, self.place.lon)
            return sim.message(self.place.postcode)
        if step == "priorities":
            return sim.message("/priorities")
        if step == "concern":
            return sim.message("/concern")
        if step == "category":
            self.key = chat.draft_key() or PLACEHOLDER_KEY
            return self.press(chat, cb.CONCERN_CATEGORY.build(key=self.key, category=self.category))
        if step == "text":
            return sim.message(TEXT)
        if step == "skip place":
            return self.press(chat, cb.CONCERN_SKIP.build(key=self.key, step="place"))
        if step == "skip photo":
            return self.press(chat, cb.CONCERN_SKIP.build(key=self.key, step="photo"))
        if step == "send":
            return self.press(chat, cb.CONCERN_SEND.build(key=self.key))
        if step == "myconcerns":
            return sim.message("/myconcerns")
        raise ValueError(step)

    def press(self, chat: Chat, data: str) -> dict:
        # The echo bot sends no buttons: its presses come from its last message.
        message = chat.message_with(data) or chat.last
        if message is None:
            message = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": self.sim.chat,
                "text": "?",
            }
        return self.sim.callback(data, message=message)


class Load:
    """Pushes residents' steps into one fake and waits for the replies."""

    def __init__(self, api: TrackingAPI, places: list[Place], ids: Callable[[], int]) -> None:
        self.api = api
        self.places = places
        self.ids = ids
        self.expected: dict[str, int] = {}

    def session(self) -> Session:
        user_id = self.ids()
        number = user_id - FIRST_USER
        return Session(user_id, number, self.places[number % len(self.places)])

    async def step(self, session: Session, step: str) -> StepResult:
        chat = self.api.chat(session.sim.chat_id)
        update = session.update(step, chat)
        label = session.label(step)
        need = self.expected[label]
        base = len(chat.replies)
        result = StepResult(label, session.sim.chat_id, time.monotonic())
        self.api.push(update)
        try:
            await chat.wait(base + need, STEP_WITHIN)
        except TimeoutError:
            result.missing = base + need - len(chat.replies)
        if len(chat.replies) > base:
            result.first = chat.replies[base]
        if not result.missing:
            result.done = chat.replies[base + need - 1]
        return result

    async def calibrate(self) -> dict[str, int]:
        """Replies per step, from two residents (postcode, location) going through slowly."""
        expected: dict[str, int] = {}
        for _ in range(2):
            session = self.session()
            chat = self.api.chat(session.sim.chat_id)
            for step in STEPS:
                base = len(chat.replies)
                self.api.push(session.update(step, chat))
                await chat.wait(base + 1, UP_WITHIN)
                while True:
                    seen = len(chat.replies)
                    await asyncio.sleep(QUIET)
                    if len(chat.replies) == seen:
                        break
                expected[session.label(step)] = len(chat.replies) - base
        self.expected = expected
        return expected

    def unexpected_replies(self, results: list[StepResult]) -> int:
        """Replies beyond what the steps pushed should have had (checked once all is quiet)."""
        due: Counter[int] = Counter()
        for result in results:
            due[result.chat_id] += self.expected[result.step]
        return sum(max(0, len(self.api.chat(c).replies) - n) for c, n in due.items())


def load_places() -> list[Place]:
    with POSTCODES_FILE.open(newline="") as rows:
        return [
            Place(row["postcode"], float(row["lat"]), float(row["lon"]))
            for row in csv.DictReader(rows)
        ]


# --- running one shape ------------------------------------------------------------------------


@dataclass
class Run:
    """What one load shape measured on one bot."""

    steps: list[StepResult] = field(default_factory=list)  # every step pushed
    results: list[StepResult] = field(default_factory=list)  # those measured
    window: float = 0.0
    bot_cpu: float = 0.0
    load_cpu: float = 0.0
    done_in_window: int = 0

    def latencies(self, which: str) -> list[float]:
        out = []
        for r in self.results:
            at = r.first if which == "first" else r.done
            if at is not None:
                out.append(at - r.pushed)
        return out

    @property
    def missing(self) -> int:
        return sum(r.missing for r in self.steps)


async def run_step(load: Load, run: Run, session: Session, step: str) -> StepResult:
    result = await load.step(session, step)
    run.steps.append(result)
    return result


def merged(runs: list[Run]) -> Run:
    """Several measured windows of one bot as one."""
    total = Run()
    for run in runs:
        total.steps += run.steps
        total.results += run.results
        total.window += run.window
        total.bot_cpu += run.bot_cpu
        total.load_cpu += run.load_cpu
        total.done_in_window += run.done_in_window
    return total


async def saturation(
    load: Load,
    pid: int,
    residents: int,
    warm_up: float,
    seconds: float,
    profile: Path | None = None,
) -> Run:
    """One slice: `residents` back-to-back for `warm_up` + `seconds`; the latter measured.
    Residents then finish the step in hand (their sessions are left there)."""
    run = Run(window=seconds)
    start = time.monotonic()
    opens, closes = start + warm_up, start + warm_up + seconds

    async def resident() -> None:
        while time.monotonic() < closes:
            session = load.session()
            for step in STEPS:
                if time.monotonic() >= closes:
                    return
                result = await run_step(load, run, session, step)
                if result.missing:
                    return

    async def meter() -> None:
        await asyncio.sleep(opens - time.monotonic())
        cpu, own = process_cpu_seconds(pid), time.process_time()
        spy = None if profile is None else await start_profiler(pid, profile, seconds)
        await asyncio.sleep(closes - time.monotonic())
        run.bot_cpu = process_cpu_seconds(pid) - cpu
        run.load_cpu = time.process_time() - own
        if spy is not None:
            await spy.wait()

    await asyncio.gather(meter(), *(resident() for _ in range(residents)))
    run.done_in_window = sum(
        1 for r in run.steps if r.done is not None and opens <= r.done < closes
    )
    run.results = [r for r in run.steps if opens <= r.pushed < closes]
    return run


async def arrival(
    load: Load, pid: int, residents: int, think: float, seconds: float, rng: random.Random
) -> Run:
    run = Run(window=seconds)
    start = time.monotonic()
    closes = start + seconds

    async def resident() -> None:
        next_at = start + rng.expovariate(1 / think)
        while True:
            session = load.session()
            for step in STEPS:
                if next_at >= closes:
                    return
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                result = await run_step(load, run, session, step)
                if result.missing:
                    return
                next_at = result.pushed + rng.expovariate(1 / think)

    cpu, own = process_cpu_seconds(pid), time.process_time()
    await asyncio.gather(*(resident() for _ in range(residents)))
    run.bot_cpu = process_cpu_seconds(pid) - cpu
    run.load_cpu = time.process_time() - own
    run.done_in_window = sum(1 for r in run.steps if r.done is not None and r.done < closes)
    run.results = run.steps
    return run


async def start_profiler(pid: int, out: Path, seconds: float) -> asyncio.subprocess.Process:
    """py-spy on the bot for the measured window: collapsed stacks for .txt, else an SVG."""
    spy = Path(sys.executable).with_name("py-spy")
    form = ["--format", "raw"] if out.suffix in (".txt", ".folded") else []
    return await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--output",
        str(out),
        *form,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


# --- the bot processes -----------------------------------------------------------------------


class BotProcess:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.log = folder / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, api: TrackingAPI, argv: list[str], env: dict[str, str]) -> None:
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.folder,  # no .env of the developer's is read
                env={
                    **os.environ,
                    "TELEGRAM_BOT_TOKEN": FakeBotAPI.TOKEN,
                    "TELEGRAM_API_BASE_URL": api.base_url,
                    "TELEGRAM_API_FILE_URL": api.base_file_url,
                    **env,
                },
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,  # a file, not a pipe: a full pipe would stall the bot
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def errors(self) -> list[str]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if ERROR_LINE.match(line)]


async def probe(api: TrackingAPI, bot: BotProcess, user_id: int) -> float:
    """Wait for the bot to answer /help; seconds from now."""
    started = time.monotonic()
    chat = api.chat(user_id)
    api.push(SimUser(user_id).message("/help"))
    try:
        await chat.wait(1, UP_WITHIN)
    except TimeoutError:
        tail = bot.log.read_text(errors="replace")[-2000:] if bot.log.exists() else ""
        late = f"{bot.name} did not answer /help within {UP_WITHIN:g} s"
        raise SystemExit(f"{late}\n{tail}") from None
    # The probe's own replies (one or more) come in before the load starts.
    await asyncio.sleep(QUIET)
    return time.monotonic() - started


# --- template database --------------------------------------------------------------------


IMPORT = """
import asyncio, sys
from pathlib import Path
from tests.conftest import import_into
asyncio.run(import_into(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
"""


async def template_db(source: Path = REPO) -> tuple[Path, bool]:
    """All England and Wales wards and the London postcodes, imported by the WardVoice in
    `source` (its own schema) once per version of the data and of its migrations."""
    stamps = [p.stat().st_mtime_ns for p in (WARDS_FILE, POSTCODES_FILE)]
    stamps.append((source / "storage" / "migrations.py").stat().st_mtime_ns)
    tree = hashlib.sha1(str(source).encode()).hexdigest()[:8]  # an absolute path
    folder = Path(tempfile.gettempdir()) / "wardvoice-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"overhead-ew-{tree}-{'-'.join(map(str, stamps))}.db"
    if path.exists():
        return path, True
    partial = folder / f"{path.stem}-{os.getpid()}.partial.db"
    importer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        IMPORT,
        str(partial),
        str(WARDS_FILE),
        str(POSTCODES_FILE),
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
    )
    if await importer.wait() != 0:
        raise SystemExit(f"could not import the wards with the WardVoice in {source}")
    _publish(partial, path, stale=f"overhead-ew-{tree}-*.db")
    return path, False


def _publish(partial: Path, path: Path, stale: str) -> None:
    """The closed database becomes the template, and older templates of the same source
    tree (matching `stale`) go. A write-ahead log left over would hold part of the
    database, so there must be none."""
    if Path(f"{partial}-wal").exists():
        raise SystemExit(f"{partial}-wal is left after closing the database")
    Path(f"{partial}-shm").unlink(missing_ok=True)
    os.replace(partial, path)
    for old in path.parent.glob(stale):
        if old != path and not old.name.endswith(".partial.db"):
            old.unlink(missing_ok=True)


# --- reporting --------------------------------------------------------------------------


def saturation_figures(run: Run) -> dict[str, Any]:
    done = run.done_in_window
    return {
        "updates": done,
        "updates_per_s": round(done / run.window, 1),
        "bot_cpu_per_s": round(run.bot_cpu / run.window, 2),
        "bot_cpu_ms_per_update": round(1000 * run.bot_cpu / done, 2) if done else None,
        "load_cpu_per_s": round(run.load_cpu / run.window, 2),
        **latency_summary(run.latencies("done"), "done_ms"),
        "missing": run.missing,
    }


def arrival_figures(run: Run) -> dict[str, Any]:
    per_step: dict[str, list[float]] = defaultdict(list)
    for r in run.results:
        if r.first is not None:
            per_step[r.step].append(r.first - r.pushed)
    return {
        "updates": len(run.results),
        "updates_per_s": round(len(run.results) / run.window, 1),
        "bot_cpu_per_s": round(run.bot_cpu / run.window, 2),
        **latency_summary(run.latencies("first"), "first_reply_ms"),
        **latency_summary(run.latencies("done"), "done_ms"),
        "first_reply_ms_p95_by_step": {
            step: latency_summary(values, "x")["x_p95"] for step, values in per_step.items()
        },
        "missing": run.missing,
    }


def show_saturation(name: str, f: dict[str, Any]) -> None:
    print(
        f"  {name:<26} {f['updates_per_s']:7.1f} updates/s ({f['updates']} done); bot CPU "
        f"{f['bot_cpu_per_s']:.2f} s/s, {f['bot_cpu_ms_per_update']} ms an update; load "
        f"generator {f['load_cpu_per_s']:.2f} s/s; step done p50 {f['done_ms_p50']} ms, "
        f"p95 {f['done_ms_p95']} ms"
    )


def show_arrival(name: str, f: dict[str, Any]) -> None:
    print(
        f"  {name:<26} {f['updates_per_s']:5.1f} updates/s; first reply p50 "
        f"{f['first_reply_ms_p50']} ms, p95 {f['first_reply_ms_p95']} ms, p99 "
        f"{f['first_reply_ms_p99']} ms, max {f['first_reply_ms_max']} ms; step done p95 "
        f"{f['done_ms_p95']} ms, p99 {f['done_ms_p99']} ms"
    )


# --- main ---------------------------------------------------------------------------------


@dataclass
class Bot:
    name: str
    argv: list[str]
    env: dict[str, str]
    kind: str  # "wardvoice" or "echo": which calibration applies
    saturation: bool
    arrival: bool
    source: Path | None = None  # a WardVoice source tree other than this one
    process: BotProcess | None = None
    api: TrackingAPI | None = None
    load: Load | None = None
    slices: list[Run] = field(default_factory=list)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=64, help="saturation: at once")
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="saturation: measured, per bot in all"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="saturation: the bots take turns this many times (each round measures "
        "seconds/rounds per bot), so a machine that slows down mid-run weighs on all alike",
    )
    parser.add_argument("--arrival-residents", type=int, default=200)
    parser.add_argument("--arrival-seconds", type=float, default=25.0, help="0: no arrival runs")
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between steps")
    parser.add_argument(
        "--skip-default-rate",
        action="store_true",
        help="leave out the arrival shape at WardVoice's default send rate",
    )
    parser.add_argument("--only-wardvoice", action="store_true", help="no echo bot runs")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run WardVoice from this source tree (e.g. `git archive HEAD | tar -x -C "
        "DIR`) in the saturation rounds, for figures before and after a change",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record WardVoice's first measured saturation slice with py-spy (pip install "
        "py-spy) to this file: collapsed stacks if it ends in .txt, else a flame graph SVG",
    )
    parser.add_argument("--logs", type=Path, help="keep a copy of each bot's log in this folder")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for path in (WARDS_FILE, POSTCODES_FILE):
        if not path.exists():
            sys.exit(f"needs {path}")
    rng = random.Random(args.seed)
    places = load_places()
    started = time.perf_counter()
    template, cached = await template_db()
    print(
        f"database: all England and Wales wards and {len(places):,} London postcodes "
        f"({'cached' if cached else 'imported'} in {time.perf_counter() - started:.1f} s)"
    )
    print(
        "each bot runs in a process of its own, with a fake Bot API of its own (no flood "
        "limits); the fakes and the load generator share this process"
    )
    next_id = iter(range(FIRST_USER, FIRST_USER + 10_000_000)).__next__
    wardvoice_env = {
        "WARDVOICE_GEOCODER": "none",
        "WARDVOICE_MAX_CONCERNS_PER_DAY": "1000",
    }
    bots = [
        Bot(
            f"wardvoice, pacing {FAST_RATE:g}/s",
            [str(WARDVOICE), "run"],
            {**wardvoice_env, "WARDVOICE_MAX_SEND_RATE": str(FAST_RATE)},
            "wardvoice",
            saturation=True,
            arrival=True,
        ),
    ]
    if args.baseline is not None:
        bots.append(
            Bot(
                f"wardvoice from {args.baseline}",
                [str(WARDVOICE), "run"],
                {
                    **bots[0].env,
                    "PYTHONPATH": os.pathsep.join(
                        [str(args.baseline.resolve()), os.environ.get("PYTHONPATH", "")]
                    ).rstrip(os.pathsep),
                },
                "wardvoice",
                saturation=True,
                arrival=False,
                source=args.baseline.resolve(),
            )
        )
    if not args.only_wardvoice:
        echo = [sys.executable, str(ECHO_BOT)]
        bots += [
            Bot("echo bot (httpx)", [*echo, "--http", "httpx"], {}, "echo", True, True),
            Bot("echo bot (aiohttp)", [*echo, "--http", "aiohttp"], {}, "echo", True, False),
        ]
    if not args.skip_default_rate and args.arrival_seconds > 0:
        bots.append(
            Bot(
                f"wardvoice, pacing {DEFAULT_RATE:g}/s (default)",
                [str(WARDVOICE), "run"],
                {**wardvoice_env, "WARDVOICE_MAX_SEND_RATE": str(DEFAULT_RATE)},
                "wardvoice",
                saturation=False,
                arrival=True,
            )
        )

    calibrated: dict[str, dict[str, int]] = {}
    saturated: dict[str, dict[str, Any]] = {}
    arrived: dict[str, dict[str, Any]] = {}
    log_errors: dict[str, list[str]] = {}
    failed_calls: Counter[str] = Counter()
    unexpected: dict[str, int] = {}
    round_ratios: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        try:
            # All bots up at once; an idle one only long-polls its own fake once a second.
            for n, bot in enumerate(bots):
                bot.api = TrackingAPI()
                await bot.api.start()
                bot.process = BotProcess(f"bot{n}", folder)
                env = dict(bot.env)
                if bot.kind == "wardvoice":
                    db = folder / f"bot{n}.db"
                    source = bot.source or REPO
                    own = template if source == REPO else (await template_db(source))[0]
                    shutil.copyfile(own, db)
                    env["WARDVOICE_DB"] = str(db)
                bot.load = Load(bot.api, places, next_id)
                await bot.process.start(bot.api, bot.argv, env)
            for bot in bots:
                assert bot.api and bot.process and bot.load
                up = await probe(bot.api, bot.process, next_id())
                # A baseline tree may answer a step with a different number of replies.
                kind = bot.kind if bot.source is None else f"{bot.kind} from {bot.source}"
                if kind not in calibrated:
                    calibrated[kind] = await bot.load.calibrate()
                    steps = ", ".join(f"{k} {v}" for k, v in calibrated[kind].items())
                    print(f"{bot.name}: answering ({up:.1f} s); replies per step: {steps}")
                else:
                    print(f"{bot.name}: answering ({up:.1f} s)")
                bot.load.expected = calibrated[kind]

            contenders = [bot for bot in bots if bot.saturation]
            if contenders:
                rounds = max(1, args.rounds)
                print(
                    f"saturation: {args.residents} residents back-to-back; the bots take "
                    f"turns, {rounds} × {args.seconds / rounds:g} s measured each"
                )
            for number in range(max(1, args.rounds) if contenders else 0):
                per_round: dict[str, Run] = {}
                for bot in contenders:
                    assert bot.load and bot.process
                    first = number == 0
                    profile = args.profile if first and bot.kind == "wardvoice" else None
                    run = await saturation(
                        bot.load,
                        bot.process.pid,
                        args.residents,
                        WARM_UP if first else 1.0,
                        args.seconds / max(1, args.rounds),
                        profile,
                    )
                    bot.slices.append(run)
                    per_round[bot.name] = run
                    await asyncio.sleep(QUIET)
                lead = per_round.get(bots[0].name)
                for name, run in per_round.items():
                    if lead is not None and name != bots[0].name and run.done_in_window:
                        round_ratios[name].append(
                            round(lead.done_in_window / run.done_in_window, 3)
                        )
            for bot in contenders:
                saturated[bot.name] = saturation_figures(merged(bot.slices))
                show_saturation(bot.name, saturated[bot.name])

            if args.arrival_seconds > 0:
                print(
                    f"arrival rate: {args.arrival_residents} residents, each sending their "
                    f"next step on average every {args.think:g} s, for {args.arrival_seconds:g} s"
                )
            for bot in bots:
                if not bot.arrival or args.arrival_seconds <= 0:
                    continue
                assert bot.load and bot.process
                run = await arrival(
                    bot.load,
                    bot.process.pid,
                    args.arrival_residents,
                    args.think,
                    args.arrival_seconds,
                    rng,
                )
                bot.slices.append(run)
                arrived[bot.name] = arrival_figures(run)
                show_arrival(bot.name, arrived[bot.name])
            await asyncio.sleep(1.0)  # anything late would show now
            for bot in bots:
                assert bot.load
                unexpected[bot.name] = bot.load.unexpected_replies(
                    [step for run in bot.slices for step in run.steps]
                )
        finally:
            for bot in bots:
                if bot.process is not None:
                    await bot.process.stop()
                if bot.api is not None:
                    await bot.api.stop()
        for bot in bots:
            assert bot.process and bot.api
            log_errors[bot.name] = bot.process.errors()
            failed_calls.update(bot.api.failed)
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                slug = re.sub(r"[^a-z0-9]+", "-", bot.name.lower()).strip("-")
                shutil.copyfile(bot.process.log, args.logs / f"{slug}.log")

    ratio = {}
    wv = saturated.get(bots[0].name)
    for name, figures in saturated.items():
        if name != bots[0].name and wv and figures["updates_per_s"]:
            ratio[name] = round(wv["updates_per_s"] / figures["updates_per_s"], 2)
    cpu_ratio = {}
    for name, figures in saturated.items():
        if name != bots[0].name and wv and wv["bot_cpu_ms_per_update"]:
            cpu_ratio[name] = round(
                figures["bot_cpu_ms_per_update"] / wv["bot_cpu_ms_per_update"], 2
            )

    print()
    for name, value in ratio.items():
        spread = ", ".join(f"{r:.2f}" for r in round_ratios[name])
        goal = "; goal ≥ 0.70" if name.startswith("echo") else ""
        print(
            f"updates/s, wardvoice / {name}: {value:.2f} (rounds: {spread}{goal}); "
            f"CPU an update, {name} / wardvoice: {cpu_ratio.get(name)}"
        )
    fast = arrived.get(bots[0].name)
    if fast:
        print(
            f"p95 first reply at {args.arrival_residents} residents, handlers only (pacing "
            f"{FAST_RATE:g}/s): {fast['first_reply_ms_p95']} ms (goal ≤ 100 ms)"
        )
        by_step = ", ".join(f"{k} {v}" for k, v in fast["first_reply_ms_p95_by_step"].items())
        print(f"  p95 first reply by step: {by_step}")
    missing = sum(f["missing"] for f in [*saturated.values(), *arrived.values()])
    errors = sum(len(v) for v in log_errors.values())
    print(
        f"ERROR lines in the bots' logs: {errors}; missing replies: {missing}; unexpected "
        f"replies: {sum(unexpected.values())}; failed Bot API calls: {sum(failed_calls.values())}"
    )
    for name, lines in log_errors.items():
        for line in lines[:5]:
            print(f"  {name}: {line}")
    for kind, n in failed_calls.most_common(5):
        print(f"  {n} × {kind}")

    result = {
        "bench": "overhead",
        "wards": "england_wales",
        "fake": "FakeBotAPI without flood limits, one per bot, in the load generator's process",
        "saturation": {
            "residents": args.residents,
            "seconds": args.seconds,
            "rounds": args.rounds,
            **saturated,
        },
        "ratio_updates_per_s": ratio,
        "ratio_updates_per_s_rounds": dict(round_ratios),
        "ratio_cpu_per_update": cpu_ratio,
        "arrival": {
            "residents": args.arrival_residents,
            "think_s": args.think,
            "seconds": args.arrival_seconds,
            **arrived,
        },
        "replies_per_step": calibrated,
        "log_errors": {k: len(v) for k, v in log_errors.items()},
        "missing_replies": missing,
        "unexpected_replies": unexpected,
        "failed_calls": sum(failed_calls.values()),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    ok = not errors and not missing and not sum(unexpected.values()) and not failed_calls
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
