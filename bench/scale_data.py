"""The scale bench's database: every England and Wales ward, 100,000 residents, 200,000
concerns and what a bot that has run for two years holds around them.

This is the bench's setup, not the product: rows go in through plain sqlite3
`executemany` (FIELD-NOTES: the product's aiosqlite calls cost 90 µs each), but each row
is made as the product makes it (storage/*.py: the same columns, states, keys, actor
strings and time format; ids in time order, as the product's inserts give them). The
wards come in through the product's own import (`tests.conftest.import_into`), and the
schema is the product's migrations.

Shape (seeded, so a rebuild gives the same database for the same `now`):

- wards ranked by a Zipf law (s = 0.85): the largest ward (Ladywood, Birmingham) has about
  5 % of the residents, the 1,000th about 15, the last ones none; every third of the top
  wards is in Birmingham, which makes it the largest borough;
- residents: 95 % placed in a ward (by location, postcode, name, link or address), 45 %
  subscribed (instant or weekly), a few unreachable (blocked the bot) or blocked;
- concerns in proportion to a ward's residents, raised by a Zipf law over its residents
  (some own a few hundred), 5 % anonymous (their author erased); status by age, with
  their history (status changes and answers by the ward's staff) and "me too"s;
- wards with 8 or more residents have a panel: a chair, panel members, neighbourhood team
  members (some covering several wards of a borough), priorities with their history,
  meetings every 4 to 6 weeks, "you said, we did" entries linked to concerns, answer
  templates, invites; some have a youth panel and agenda votes (with ballots, agendas);
- the outbox of the last 90 days (retention keeps no more): answers, status news, "we did"
  entries, weekly digests with each subscriber's own text, reminders, follow-ups,
  broadcasts, votes and results; follow-up ratings over two years; the audit log;
- the schedule marks a running bot leaves (digest slot per ward, today's retention).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from bot.clock import to_iso
from bot.config import Settings
from bot.domain.concerns import KEY_ALPHABET, REF_ALPHABET
from bot.domain.roles import INVITE_ALPHABET
from schedules.digest import latest_slot
from storage.migrations import MIGRATIONS
from tests.conftest import import_into

GENERATOR_VERSION = 1
_VERB = {"added": "add", "reworded": "reword", "retired": "retire"}
LARGEST_WARD = "E05011151"  # Ladywood, Birmingham
LARGEST_BOROUGH = "E08000025"  # Birmingham
PANEL_MIN_RESIDENTS = 8
DAY = 86_400.0

CATEGORY_WEIGHTS = {
    "asb": 20,
    "vandalism": 10,
    "vehicle": 10,
    "drugs": 10,
    "burglary": 5,
    "noise": 15,
    "roads": 12,
    "street": 13,
    "other": 5,
}
LANGUAGES = (("en", 88), ("pl", 5), ("tr", 4), ("bn", 3))
PLACED_BY = (("location", 35), ("postcode", 25), ("name", 20), ("link", 15), ("address", 5))
SENTENCES = (
    "There is a group of young people gathering by the shops most evenings.",
    "Cars are parked on the pavement so prams and wheelchairs cannot get past.",
    "Someone has sprayed graffiti across the bus shelter again.",
    "Loud music from the flat above until three in the morning.",
    "People are dealing openly near the underpass after dark.",
    "Two cars on our road had their windows smashed this week.",
    "Fly-tipping behind the garages has been there for a month.",
    "Drivers speed down the hill past the primary school at pick-up time.",
    "The street light outside number 40 has been out for weeks.",
    "Bikes are stolen from the rack at the station almost every day.",
    "There was a break-in at a neighbour's house while they were on holiday.",
    "Motorbikes ride through the park and across the playing fields.",
    "Broken glass is left in the playground every weekend.",
    "The alleyway is used as a toilet and nobody cleans it.",
    "An abandoned van has been parked here since the summer.",
    "Residents feel unsafe walking home from the station at night.",
)
VENUES = (
    "Community centre, main hall",
    "Library meeting room",
    "St Mary's church hall",
    "Leisure centre, room 2",
    "Youth club",
    "Tenants' association hall",
)
PRIORITY_TITLES = {
    "asb": "Anti-social behaviour around the shops",
    "vandalism": "Graffiti on the estate",
    "vehicle": "Thefts from vehicles",
    "drugs": "Drug dealing near the park",
    "burglary": "Burglary in the residential streets",
    "noise": "Noise at night",
    "roads": "Speeding near the schools",
    "street": "Fly-tipping and abandoned vehicles",
    "other": "Safety on the walk from the station",
}
WE_DID = (
    "Extra patrols on Friday and Saturday evenings; two dispersal orders issued.",
    "The council removed the graffiti within 48 hours and installed a camera.",
    "Speed checks on six mornings; 41 drivers stopped and given advice or fines.",
    "Joint operation with the council: three vehicles removed, one owner traced.",
    "Warrant executed at one address; drugs and cash seized, two arrests.",
    "Crime prevention advice at 120 homes; free window locks fitted for older residents.",
)


@dataclass(frozen=True)
class Plan:
    residents: int = 100_000
    concerns: int = 200_000
    seed: int = 20251123


def cache_key(wards_file: Path, plan: Plan, now: datetime) -> str:
    """Inputs that make the database: the ward file, the plan, the schema, this generator,
    and the day (what is due, and every date, is relative to the day it was built)."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(wards_file.read_bytes()).digest())
    digest.update(Path(__file__).read_bytes())
    digest.update(
        json.dumps(
            [plan.residents, plan.concerns, plan.seed, len(MIGRATIONS), GENERATOR_VERSION]
        ).encode()
    )
    digest.update(now.date().isoformat().encode())
    return digest.hexdigest()[:16]


def _iso(ts: float) -> str:
    return to_iso(datetime.fromtimestamp(ts, UTC))


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def _code(rng: random.Random, alphabet: str, length: int, taken: set[str]) -> str:
    while True:
        code = "".join(rng.choices(alphabet, k=length))
        if code not in taken:
            taken.add(code)
            return code


def _text(rng: random.Random) -> str:
    """10 to 2,000 characters, median about 180."""
    target = min(2000, max(10, int(rng.lognormvariate(math.log(180), 0.8))))
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(rng.choice(SENTENCES))
    return " ".join(parts)[:target].rstrip() or SENTENCES[0][:target]


class Points:
    """Random points inside each ward (rejection sampling in its bounding box)."""

    def __init__(self, geometries: dict[str, bytes], seed: int) -> None:
        self._geometries = {code: shapely.from_wkb(blob) for code, blob in geometries.items()}
        self._np = np.random.default_rng(seed)
        self._pool: dict[str, list[tuple[float, float]]] = {}

    def __call__(self, ward: str) -> tuple[float, float]:
        pool = self._pool.get(ward)
        if not pool:
            pool = self._fill(ward)
            self._pool[ward] = pool
        return pool.pop()

    def _fill(self, ward: str) -> list[tuple[float, float]]:
        geometry = self._geometries[ward]
        shapely.prepare(geometry)
        west, south, east, north = geometry.bounds
        found: list[tuple[float, float]] = []
        while len(found) < 64:
            xs = self._np.uniform(west, east, 256)
            ys = self._np.uniform(south, north, 256)
            inside = shapely.contains_xy(geometry, xs, ys)
            found += [
                (round(float(y), 6), round(float(x), 6))
                for x, y in zip(xs[inside], ys[inside], strict=True)
            ]
        return found


@dataclass
class Resident:
    user_id: int
    language: str
    ward: str | None
    created: float
    last_seen: float
    updates: str
    changed: float | None
    unreachable: bool


@dataclass
class Concern:
    id: int
    ward: str
    raised_by: int | None
    created: float
    status: str
    first_response: float | None
    followers: list[int]


class Builder:
    def __init__(self, conn: sqlite3.Connection, plan: Plan, now: datetime) -> None:
        self.conn = conn
        self.plan = plan
        self.now = now.timestamp()
        self.now_dt = now
        self.rng = random.Random(plan.seed)
        self.np = np.random.default_rng(plan.seed)
        rows = conn.execute(
            "SELECT code, borough_code, geometry FROM wards WHERE active = 1 ORDER BY code"
        ).fetchall()
        self.borough = {code: borough for code, borough, _ in rows}
        self.points = Points({code: blob for code, _, blob in rows}, plan.seed)
        self.residents: list[Resident] = []
        self.by_ward: dict[str, list[Resident]] = defaultdict(list)
        self.staff: dict[str, list[int]] = {}  # ward -> chair, panel members, team members
        self.team: dict[str, list[int]] = {}  # ward -> team members (respond, we did)
        self.chair: dict[str, int] = {}
        self.priorities: dict[str, list[int]] = defaultdict(list)
        self.concerns: list[Concern] = []
        self.outcomes: list[tuple[int, str, float]] = []  # id, ward, created
        self.meetings: dict[str, list[tuple[int, float, bool, bool]]] = defaultdict(list)
        self.audit: list[tuple[Any, ...]] = []
        self.counts: dict[str, int] = {}
        self.invite_codes: set[str] = set()
        settings = Settings()
        weekday, hour, minute = settings.digest_slot
        self.slot = latest_slot(now, settings.tz, weekday, hour, minute).timestamp()

    # --- helpers ------------------------------------------------------------------------

    def ago(self, days: float) -> float:
        return self.now - days * DAY

    def between(self, start: float, end: float) -> float:
        return start + self.rng.random() * max(0.0, end - start)

    def insert(self, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> int:
        rows = list(rows)
        marks = ", ".join("?" for _ in columns.split(","))
        self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        return len(rows)

    def actor(self, user_id: int | None) -> str:
        return "cli" if user_id is None else f"tg:{user_id}"

    # --- wards and residents ------------------------------------------------------------

    def ward_sizes(self) -> dict[str, int]:
        codes = sorted(self.borough)
        brum = [c for c in codes if self.borough[c] == LARGEST_BOROUGH and c != LARGEST_WARD]
        rest = [c for c in codes if self.borough[c] != LARGEST_BOROUGH]
        self.rng.shuffle(brum)
        self.rng.shuffle(rest)
        ranked = [LARGEST_WARD]
        while brum or rest:
            if brum and (len(ranked) % 3 == 0 or not rest):
                ranked.append(brum.pop())
            else:
                ranked.append(rest.pop())
        weights = np.arange(1, len(ranked) + 1, dtype=float) ** -0.85
        placed = round(self.plan.residents * 0.95)
        sizes = self.np.multinomial(placed, weights / weights.sum())
        return {code: int(n) for code, n in zip(ranked, sizes, strict=True)}

    def build_residents(self) -> None:
        rng = self.rng
        sizes = self.ward_sizes()
        wards: list[str | None] = [w for w, n in sizes.items() for _ in range(n)]
        wards += [None] * (self.plan.residents - len(wards))
        ids = rng.sample(range(100_000_000, 7_900_000_000), len(wards))
        rows = []
        for user_id, ward in zip(ids, wards, strict=True):
            created = self.ago(1 + 729 * rng.random() ** 1.3)
            last_seen = max(
                created, self.now - min(self.now - created, rng.expovariate(1 / 60) * DAY)
            )
            language = _pick(rng, LANGUAGES)
            unreachable = rng.random() < 0.02
            updates, changed, asked = "off", None, None
            if ward is not None:
                asked = created + 30
                roll = rng.random()
                updates = "instant" if roll < 0.2 else "weekly" if roll < 0.45 else "off"
                changed = asked + (rng.random() < 0.2) * rng.random() * (self.now - asked) * 0.5
                if updates == "off" and rng.random() < 0.5:
                    changed = None  # asked, never answered
                if unreachable:
                    updates = "off"
                    changed = self.between(created, self.now)
            resident = Resident(
                user_id, language, ward, created, last_seen, updates, changed, unreachable
            )
            self.residents.append(resident)
            if ward is not None:
                self.by_ward[ward].append(resident)
            placed_by = _pick(rng, PLACED_BY) if ward else None
            lat, lon = (
                self.points(ward)
                if ward and placed_by in ("location", "postcode", "address")
                else (None, None)
            )
            ward_since = created + 20 if ward else None
            if ward and rng.random() < 0.05:
                ward_since = self.between(created, last_seen)  # moved ward later
            rows.append(
                (
                    user_id,
                    language,
                    ward,
                    placed_by,
                    lat,
                    lon,
                    0 if ward else 1,
                    _iso(created),
                    _iso(max(last_seen, changed or 0)),
                    _iso(self.between(created, self.now)) if rng.random() < 0.0005 else None,
                    updates,
                    _iso(asked) if asked else None,
                    _iso(changed) if changed else None,
                    0,  # digest_after, set once the outcomes exist
                    _iso(changed) if unreachable and changed else None,
                    _iso(last_seen),
                    _iso(ward_since) if ward_since else None,
                )
            )
        self.insert(
            "residents",
            "user_id, language, ward_code, placed_by, lat, lon, finding_ward, created_at,"
            " updated_at, blocked_at, updates, updates_asked_at, updates_changed_at, digest_after,"
            " unreachable_at, last_seen_at, ward_since",
            rows,
        )
        self.sizes = sizes

    # --- staff --------------------------------------------------------------------------

    def build_staff(self) -> None:
        rng = self.rng
        roles: list[tuple[Any, ...]] = []
        invites: list[tuple[Any, ...]] = []
        focus: list[tuple[int, str]] = []
        self.panel_wards = [w for w, n in self.sizes.items() if n >= PANEL_MIN_RESIDENTS]
        by_borough: dict[str, list[str]] = defaultdict(list)
        for ward in self.panel_wards:
            by_borough[self.borough[ward]].append(ward)
        taken: set[int] = set()

        def person(ward: str) -> int:
            for _ in range(20):
                candidate = rng.choice(self.by_ward[ward]).user_id
                if candidate not in taken:
                    taken.add(candidate)
                    return candidate
            return candidate

        def grant(user_id: int, scope: str, role: str, at: float) -> None:
            if rng.random() < 0.8:
                code = _code(rng, INVITE_ALPHABET, 10, self.invite_codes)
                made = at - rng.uniform(0.1, 6) * DAY
                invites.append(
                    (code, scope, role, "cli", _iso(made), _iso(made + 7 * DAY), user_id, _iso(at))
                )
                by = f"invite:{code}"
                self.audit.append((at, self.actor(user_id), "join", scope, role, "done", ""))
            else:
                by = "cli"
                self.audit.append((at, "cli", "grant", scope, f"{user_id}:{role}", "done", ""))
            roles.append((user_id, scope, role, by, _iso(at)))

        for wards in by_borough.values():
            team_pool = [person(rng.choice(wards)) for _ in range(max(1, len(wards) // 2))]
            for ward in wards:
                start = self.ago(rng.uniform(400, 740))
                chair = person(ward)
                self.chair[ward] = chair
                grant(chair, ward, "panel_chair", start)
                members = [person(ward) for _ in range(rng.randint(2, 3))]
                for m in members:
                    grant(m, ward, "panel_member", self.between(start, self.ago(30)))
                team = rng.sample(team_pool, min(len(team_pool), rng.randint(1, 2)))
                for m in team:
                    grant(m, ward, "team_member", self.between(start, self.ago(30)))
                self.team[ward] = team
                self.staff[ward] = [chair, *members, *team]
                if rng.random() < 0.15:  # a ward youth panel
                    for _ in range(rng.randint(8, 25)):
                        grant(person(ward), ward, "youth", self.between(start, self.ago(1)))
            for m in team_pool:
                mine = [w for w in wards if m in self.team.get(w, [])]
                if len(mine) > 1:
                    focus.append((m, rng.choice(mine)))
        for borough in rng.sample(sorted(by_borough), min(10, len(by_borough))):
            for _ in range(rng.randint(20, 40)):
                grant(
                    person(rng.choice(by_borough[borough])),
                    borough,
                    "youth",
                    self.ago(rng.uniform(1, 300)),
                )
        # Unused invites: expired, or still waiting.
        for ward in rng.sample(self.panel_wards, len(self.panel_wards) // 10):
            made = self.ago(rng.uniform(0, 60))
            code = _code(rng, INVITE_ALPHABET, 10, self.invite_codes)
            invites.append(
                (
                    code,
                    ward,
                    "panel_member",
                    self.actor(self.chair[ward]),
                    _iso(made),
                    _iso(made + 7 * DAY),
                    None,
                    None,
                )
            )
        roles = list({(r[0], r[1], r[2]): r for r in roles}.values())  # a person once per role
        self.insert("roles", "user_id, scope, role, granted_by, granted_at", roles)
        self.insert(
            "invites",
            "code, scope, role, created_by, created_at, expires_at, used_by, used_at",
            invites,
        )
        self.insert("staff_focus", "user_id, scope", focus)
        admins = rng.sample([r.user_id for r in self.residents if r.ward], 2)
        self.admins = admins
        self.insert(
            "admins",
            "user_id, granted_by, granted_at",
            [(a, "cli", _iso(self.ago(700))) for a in admins],
        )
        self.youth_wards = sorted(
            {s for _, s, r, _, _ in roles if r == "youth" and s in self.sizes}
        )

    # --- priorities, meetings -----------------------------------------------------------

    def build_priorities(self) -> None:
        rng = self.rng
        rows: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        next_id = 1
        cats = list(CATEGORY_WEIGHTS)
        for ward in self.panel_wards:
            chair = self.actor(self.chair[ward])
            keen = rng.random() < 0.7  # reviews its priorities every meeting cycle
            t = self.ago(rng.uniform(300, 700))
            active: list[tuple[int, str, float]] = []
            for category in rng.sample(cats, rng.randint(3, 5)):
                active.append((next_id, category, t))
                next_id += 1
            retired: list[tuple[int, str, float, float]] = []
            events: list[tuple[int, str, float]] = [(p, "added", s) for p, _, s in active]
            t += rng.uniform(20, 60) * DAY
            while t < self.ago(1 if keen else 60):
                if len(active) > 3 and rng.random() < 0.5:
                    p, cat, s = active.pop(rng.randrange(len(active)))
                    retired.append((p, cat, s, t))
                    events.append((p, "retired", t))
                elif len(active) < 5:
                    cat = rng.choice(cats)
                    active.append((next_id, cat, t))
                    events.append((next_id, "added", t))
                    next_id += 1
                else:
                    p = rng.choice(active)[0]
                    events.append((p, "reworded", t))
                t += rng.uniform(25, 50 if keen else 120) * DAY
            for p, cat, s in active:
                rows.append((p, ward, PRIORITY_TITLES[cat], cat, "", _iso(s), None, _iso(s)))
                self.priorities[ward].append(p)
            for p, cat, s, r in retired:
                rows.append((p, ward, PRIORITY_TITLES[cat], cat, "", _iso(s), _iso(r), _iso(r)))
            titles = {r[0]: (r[2], r[3]) for r in rows[-(len(active) + len(retired)) :]}
            for p, change, at in events:
                title, cat = titles[p]
                history.append((at, p, change, title, cat, "", chair, _iso(at)))
        history.sort()
        self.insert(
            "priorities",
            "id, ward_code, title, category, description, set_at, retired_at, updated_at",
            rows,
        )
        self.insert(
            "priority_history",
            "priority_id, change, title, category, description, changed_by, changed_at",
            [h[1:] for h in history],
        )
        ward_of = {r[0]: r[1] for r in rows}
        self.audit += [
            (h[0], h[6], f"{_VERB[h[2]]}_priority", ward_of[h[1]], str(h[1]), "done", "")
            for h in history
        ]

    def build_meetings(self) -> None:
        rng = self.rng
        rows: list[tuple[Any, ...]] = []
        for ward in self.panel_wards:
            cycle = rng.uniform(28, 42) * DAY
            t = self.ago(rng.uniform(700, 730))
            t -= t % 3600  # on the hour
            while t < self.now + 60 * DAY:
                created = t - rng.uniform(7, 40) * DAY
                cancelled = rng.random() < 0.04
                rows.append(
                    (
                        t,
                        ward,
                        _iso(t),
                        rng.choice(VENUES),
                        int(rng.random() < 0.8),
                        "https://meet.example.org/ward" if rng.random() < 0.25 else None,
                        self.actor(self.chair[ward]),
                        _iso(created),
                        _iso(t - rng.uniform(1, 5) * DAY) if cancelled else None,
                        self.actor(self.chair[ward]) if cancelled else None,
                    )
                )
                t += cycle + rng.choice((-1, 0, 1)) * DAY
                t -= t % 3600
        rows.sort(key=lambda r: r[7])  # ids in the order they were scheduled
        for n, row in enumerate(rows, start=1):
            self.meetings[row[1]].append((n, row[0], bool(row[4]), row[8] is not None))
            self.audit.append(
                (
                    datetime.fromisoformat(row[7]).timestamp(),
                    row[6],
                    "schedule_meeting",
                    row[1],
                    f"meeting:{n}",
                    "done",
                    "",
                )
            )
        self.insert(
            "meetings",
            "id, ward_code, starts_at, venue, open_to_public, online_link, created_by, created_at,"
            " cancelled_at, cancelled_by",
            [(n, *r[1:]) for n, r in enumerate(rows, start=1)],
        )

    # --- concerns -----------------------------------------------------------------------

    def status_for(self, age_days: float, staffed: bool) -> str:
        if not staffed:
            return "received"
        table = (
            (2, (("received", 80), ("reviewed", 20))),
            (
                14,
                (
                    ("received", 40),
                    ("reviewed", 35),
                    ("priority", 5),
                    ("action", 15),
                    ("closed", 5),
                ),
            ),
            (
                60,
                (
                    ("received", 15),
                    ("reviewed", 30),
                    ("priority", 10),
                    ("action", 25),
                    ("closed", 20),
                ),
            ),
            (
                1e9,
                (
                    ("received", 8),
                    ("reviewed", 12),
                    ("priority", 5),
                    ("action", 20),
                    ("closed", 55),
                ),
            ),
        )
        for limit, weights in table:
            if age_days < limit:
                return _pick(self.rng, weights)
        raise AssertionError

    def build_concerns(self) -> None:
        rng = self.rng
        placed = {w: n for w, n in self.sizes.items() if n}
        wards = list(placed)
        total = np.array([placed[w] for w in wards], dtype=float)
        per_ward = self.np.multinomial(self.plan.concerns, total / total.sum())
        refs: set[str] = set()
        keys: set[str] = set()
        made: list[tuple[Any, ...]] = []
        cats = list(CATEGORY_WEIGHTS)
        cat_weights = list(CATEGORY_WEIGHTS.values())
        for ward, n in zip(wards, per_ward, strict=True):
            if not n:
                continue
            people = self.by_ward[ward][:]
            rng.shuffle(people)
            # A Zipf law over the ward's residents, times how long each has been here (a
            # steady rate per person), at most one a day on average and 250 in all.
            age = np.array([(self.now - p.created) / DAY for p in people])
            weights = np.arange(1, len(people) + 1, dtype=float) ** -0.8 * age
            cap = np.minimum(250, np.maximum(1, age.astype(int)))
            counts = np.zeros(len(people), dtype=int)
            left = int(n)
            for _ in range(4):
                room = cap - counts
                if left <= 0 or room.sum() <= 0:
                    break
                wanted = self.np.multinomial(
                    left, weights * (room > 0) / (weights * (room > 0)).sum()
                )
                added = np.minimum(wanted, room)
                counts += added
                left -= int(added.sum())
            for person, count in zip(people, counts, strict=True):
                for _ in range(int(count)):
                    anonymous = rng.random() < 0.05
                    start = self.ago(730) if anonymous else person.created
                    created = self.between(start, self.now - 60)
                    made.append(
                        (
                            created,
                            ward,
                            None if anonymous else person.user_id,
                            rng.choices(cats, cat_weights)[0],
                        )
                    )
        made.sort()
        rows, events, supporters = [], [], []
        for n, (created, ward, raised_by, category) in enumerate(made, start=1):
            staff = self.staff.get(ward)
            age = (self.now - created) / DAY
            status = self.status_for(age, staff is not None)
            path = {
                "received": [],
                "reviewed": ["reviewed"],
                "priority": ["reviewed", "priority"],
                "action": ["reviewed", "action"],
                "closed": ["reviewed", "action", "closed"],
            }[status]
            if status == "closed" and rng.random() < 0.3:
                path = ["reviewed", "closed"]  # closed without action (a duplicate, not police)
            concern_events = [(created, "status", None, "received", None, "resident")]
            t, previous = created, "received"
            for step in path:
                t = min(self.now - 30, t + rng.lognormvariate(math.log(1.5), 1.0) * DAY)
                concern_events.append(
                    (t, "status", previous, step, None, self.actor(rng.choice(staff)))
                )
                previous = step
            first_response = None
            if staff and (status != "received" or rng.random() < 0.05) and rng.random() < 0.8:
                t = min(self.now - 20, created + rng.lognormvariate(math.log(2), 1.0) * DAY)
                first_response = t
                for _ in range(rng.choice((1, 1, 1, 2, 3))):
                    who = rng.choice(self.team.get(ward) or staff)
                    concern_events.append(
                        (t, "response", None, None, rng.choice(WE_DID), self.actor(who))
                    )
                    t = min(self.now - 10, t + rng.uniform(0.5, 10) * DAY)
            concern_events.sort(key=lambda e: e[0])
            followers = [raised_by] if raised_by else []
            if rng.random() < 0.25 and len(self.by_ward[ward]) > 1:
                for _ in range(min(30, 1 + int(rng.expovariate(1 / 2)))):
                    other = rng.choice(self.by_ward[ward]).user_id
                    if other not in followers:
                        followers.append(other)
                        supporters.append(
                            (
                                n,
                                other,
                                _iso(self.between(created, min(self.now, created + 30 * DAY))),
                            )
                        )
            priority_id = None
            if status in ("priority", "action", "closed") and self.priorities.get(ward):
                if status == "priority" or rng.random() < 0.3:
                    priority_id = rng.choice(self.priorities[ward])
            point = self.points(ward) if rng.random() < 0.4 else (None, None)
            rows.append(
                (
                    n,
                    "WV-" + _code(rng, REF_ALPHABET, 5, refs),
                    ward,
                    category,
                    _text(rng),
                    point[0],
                    point[1],
                    f"AgACAgQAAxkBAAI{rng.getrandbits(120):030x}" if rng.random() < 0.15 else None,
                    raised_by,
                    status,
                    _code(rng, KEY_ALPHABET, 8, keys),
                    _iso(created),
                    _iso(concern_events[-1][0]),
                    _iso(self.between(created, self.now)) if rng.random() < 0.003 else None,
                    priority_id,
                )
            )
            for e in concern_events:
                events.append((e[0], n, e[1], e[2], e[3], e[4], e[5], _iso(e[0])))
                if e[5] != "resident":
                    action = "respond" if e[1] == "response" else "concern_status"
                    self.audit.append((e[0], e[5], action, ward, rows[-1][1], "done", e[3] or ""))
            self.concerns.append(
                Concern(n, ward, raised_by, created, status, first_response, followers)
            )
        self.insert(
            "concerns",
            "id, ref, ward_code, category, text, lat, lon, photo_file_id, raised_by, status,"
            " draft_key, created_at, updated_at, hidden_at, priority_id",
            rows,
        )
        events.sort(key=lambda e: (e[0], e[1]))
        self.insert(
            "concern_events",
            "concern_id, kind, from_status, to_status, text, changed_by, changed_at",
            [e[1:] for e in events],
        )
        self.events = events
        self.insert("concern_supporters", "concern_id, user_id, added_at", supporters)

    # --- outcomes, templates ------------------------------------------------------------

    def build_outcomes(self) -> None:
        rng = self.rng
        made = []
        for ward in self.panel_wards:
            for _ in range(int(20 + 3 * math.sqrt(self.sizes[ward]))):
                created = self.ago(rng.uniform(0.05, 700))
                made.append((created, ward))
        made.sort()
        by_ward_concerns: dict[str, list[Concern]] = defaultdict(list)
        for c in self.concerns:
            if c.status in ("action", "closed"):
                by_ward_concerns[c.ward].append(c)
        rows, links = [], []
        for n, (created, ward) in enumerate(made, start=1):
            priority = rng.choice(self.priorities[ward]) if rng.random() < 0.7 else None
            who = self.actor(rng.choice(self.team[ward]))
            day = datetime.fromtimestamp(created - rng.uniform(0, 3) * DAY).date().isoformat()
            rows.append(
                (
                    n,
                    ward,
                    priority,
                    rng.choice(SENTENCES),
                    rng.choice(WE_DID),
                    day,
                    who,
                    _iso(created),
                )
            )
            candidates = by_ward_concerns.get(ward, [])
            earlier = [
                c for c in rng.sample(candidates, min(12, len(candidates))) if c.created < created
            ]
            for c in earlier[: rng.randint(0, 3)]:
                links.append((n, c.id))
            self.outcomes.append((n, ward, created))
            self.audit.append((created, who, "we_did", ward, f"outcome:{n}", "done", ""))
        self.insert(
            "outcomes",
            "id, ward_code, priority_id, you_said, we_did, action_date, created_by, created_at",
            rows,
        )
        self.insert("outcome_concerns", "outcome_id, concern_id", links)
        self.outcome_links = links
        templates = []
        for ward in self.panel_wards:
            for cat in rng.sample(list(CATEGORY_WEIGHTS), rng.randint(0, 4)):
                who = self.actor(rng.choice(self.team[ward]))
                templates.append(
                    (
                        ward,
                        cat,
                        "reviewed",
                        rng.choice(WE_DID),
                        who,
                        _iso(self.ago(rng.uniform(1, 600))),
                    )
                )
        self.insert(
            "response_templates",
            "ward_code, category, status, text, updated_by, updated_at",
            templates,
        )

    def set_digest_watermarks(self) -> None:
        """What `subscriptions.set_mode` and the weekly digests leave in `digest_after`."""
        created = [o[2] for o in self.outcomes]  # in id order, which is time order
        ward_ids: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for n, ward, at in self.outcomes:
            ward_ids[ward].append((at, n))
        updates = []
        for r in self.residents:
            if r.changed is None:
                continue
            after = bisect.bisect_right(created, r.changed)  # MAX(id) when they chose
            if r.updates == "weekly" and r.ward:
                covered = [n for at, n in ward_ids.get(r.ward, []) if at <= self.slot]
                if covered:
                    after = max(after, covered[-1])
            updates.append((after, r.user_id))
        self.conn.executemany("UPDATE residents SET digest_after = ? WHERE user_id = ?", updates)
        marks = {
            r.ward for r in self.residents if r.updates == "weekly" and r.ward and not r.unreachable
        }
        self.insert(
            "schedule_marks",
            "job, scope, done_until",
            [("digest", w, _iso(self.slot)) for w in sorted(marks)]
            + [("retention", "", self.now_dt.date().isoformat())],
        )

    # --- votes --------------------------------------------------------------------------

    def build_votes(self) -> list[tuple[Any, ...]]:
        """Closed and published votes (ballots kept only for the last 90 days), and a few
        open ones; returns outbox plans (kind, key, ward, recipients, at)."""
        rng = self.rng
        youth: dict[str, list[int]] = defaultdict(list)
        for user_id, scope in self.conn.execute(
            "SELECT user_id, scope FROM roles WHERE role = 'youth'"
        ):
            youth[scope].append(user_id)
        votes, items, ballots, choices, agenda, plans = [], [], [], [], [], []
        vote_id = 0
        for ward in self.youth_wards:
            electorate = youth[ward]
            for meeting_id, starts, _, cancelled in self.meetings[ward]:
                if (
                    cancelled
                    or starts < self.ago(365)
                    or rng.random() > (0.9 if starts > self.now else 0.3)
                ):
                    continue
                if starts > self.now + 20 * DAY:
                    continue
                vote_id += 1
                closes = starts - 24 * 3600
                opened = closes - rng.uniform(3, 10) * DAY
                created = opened - rng.uniform(0.1, 2) * DAY
                is_open = closes > self.now
                n_items = rng.randint(3, 6)
                voters = rng.sample(electorate, int(len(electorate) * rng.uniform(0.3, 0.8)))
                tally = [0] * n_items
                cast: list[tuple[int, list[int], float]] = []
                for v in voters:
                    picks = rng.sample(range(1, n_items + 1), 2)
                    at = self.between(opened, min(closes, self.now))
                    cast.append((v, picks, at))
                    for p in picks:
                        tally[p - 1] += 1
                winners = sorted(range(1, n_items + 1), key=lambda p: -tally[p - 1])[:2]
                chair = self.actor(self.chair[ward])
                published = None if is_open else closes + 60
                votes.append(
                    (
                        vote_id,
                        ward,
                        self.borough[ward],
                        meeting_id,
                        "ward_youth",
                        2,
                        2,
                        24,
                        _iso(closes),
                        "open" if is_open else "closed",
                        chair,
                        _iso(created),
                        chair,
                        _iso(opened),
                        None if is_open else "schedule",
                        None if is_open else _iso(closes + 30),
                        None if is_open else len(electorate),
                        None if is_open else len(voters),
                        None if is_open else _iso(published),
                    )
                )
                for p in range(1, n_items + 1):
                    items.append(
                        (
                            vote_id,
                            p,
                            rng.choice(SENTENCES)[:32],
                            None,
                            None if is_open else tally[p - 1],
                            int(not is_open and p in winners),
                        )
                    )
                if is_open or (published and published > self.ago(90)):
                    for v, picks, at in cast:
                        ballots.append((vote_id, v, _iso(at), _iso(at)))
                        choices += [(vote_id, v, p) for p in picks]
                plans.append(("vote", f"vote:{vote_id}", ward, electorate, opened))
                if not is_open and published:
                    for p in winners:
                        agenda.append(
                            (
                                meeting_id,
                                items[-n_items + p - 1][2],
                                None,
                                vote_id,
                                p,
                                tally[p - 1],
                                _iso(published),
                            )
                        )
                    plans.append(
                        (
                            "results",
                            f"results:{vote_id}:panel",
                            ward,
                            self.staff[ward][:4],
                            published,
                        )
                    )
                    plans.append(("results", f"results:{vote_id}:voters", ward, voters, published))
        self.insert(
            "votes",
            "id, ward_code, borough_code, meeting_id, audience, picks, places, close_hours,"
            " closes_at, state, created_by, created_at, opened_by, opened_at, closed_by, closed_at,"
            " eligible, voters, published_at",
            votes,
        )
        self.insert("vote_items", "vote_id, position, title, detail, votes, won", items)
        self.insert("ballots", "vote_id, user_id, cast_at, changed_at", ballots)
        self.insert("ballot_choices", "vote_id, user_id, position", choices)
        self.insert(
            "agenda_items",
            "meeting_id, title, detail, vote_id, vote_position, votes, added_at",
            agenda,
        )
        return plans

    # --- outbox, ratings ----------------------------------------------------------------

    def build_outbox(self, vote_plans: list[tuple[Any, ...]]) -> None:
        """The last 90 days of outbox items and rows (retention deletes older ones)."""
        rng = self.rng
        since = self.ago(90)
        language = {r.user_id: r.language for r in self.residents}
        unreachable = {r.user_id for r in self.residents if r.unreachable}
        subscribers: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for r in self.residents:
            if r.ward and r.updates != "off":
                subscribers[r.ward][r.updates].append(r.user_id)
        # (at, kind, key, ward, recipients, own text per recipient?, markup, created_by)
        plans: list[tuple[Any, ...]] = []
        by_id = {c.id: c for c in self.concerns}
        for at, concern_id, _, _, _, _, by, _ in self.events:
            if at < since or by == "resident":
                continue
            c = by_id[concern_id]
            if c.followers:
                plans.append((at, "answer", None, c.ward, c.followers, False, None, "bot"))
        linked: dict[int, list[int]] = defaultdict(list)
        for outcome_id, concern_id in self.outcome_links:
            linked[outcome_id] += by_id[concern_id].followers
        for n, ward, at in self.outcomes:
            if at < since:
                continue
            told = list(dict.fromkeys(linked.get(n, [])))
            if told:
                plans.append((at, "answer", None, ward, told, False, None, "bot"))
            instant = [u for u in subscribers[ward]["instant"] if u not in told]
            if instant:
                plans.append(
                    (
                        at,
                        "wedid",
                        f"wedid:{n}",
                        ward,
                        instant,
                        False,
                        None,
                        self.actor(self.team[ward][0]),
                    )
                )
        # Weekly digests: each slot of the last 90 days, to each weekly subscriber of a ward
        # with entries that week (their own text).
        per_ward_outcomes: dict[str, list[float]] = defaultdict(list)
        for _, ward, at in self.outcomes:
            per_ward_outcomes[ward].append(at)
        slot = self.slot
        while slot > since:
            for ward, weekly in subscribers.items():
                if weekly["weekly"] and any(
                    slot - 7 * DAY < at <= slot for at in per_ward_outcomes.get(ward, ())
                ):
                    plans.append(
                        (
                            slot,
                            "digest",
                            f"digest:{ward}:{_iso(slot)}",
                            ward,
                            weekly["weekly"],
                            True,
                            None,
                            "bot",
                        )
                    )
            slot -= 7 * DAY
        for ward, meetings in self.meetings.items():
            for meeting_id, starts, open_, cancelled in meetings:
                at = starts - 24 * 3600
                if cancelled or not since < at < self.now:
                    continue
                people = list(self.staff[ward])
                if open_:
                    people += subscribers[ward]["instant"] + subscribers[ward]["weekly"]
                plans.append(
                    (at, "reminder", f"reminder:{meeting_id}", ward, people, False, None, "bot")
                )
        rate = [[{"text": str(s), "callback_data": f"rate:{{id}}:{s}"} for s in range(1, 6)]]
        self.rated: list[tuple[Any, ...]] = []
        for c in self.concerns:
            if c.first_response is None or not c.followers:
                continue
            at = c.first_response + 28 * DAY
            if at >= self.now:
                continue
            markup = json.loads(json.dumps(rate).replace("{id}", str(c.id)))
            if at > since:
                plans.append(
                    (at, "followup", f"followup:{c.id}", c.ward, c.followers, False, markup, "bot")
                )
            for person in c.followers:
                if rng.random() < 0.35:
                    score = rng.choices((1, 2, 3, 4, 5), (10, 15, 25, 30, 20))[0]
                    self.rated.append(
                        (
                            c.id,
                            person,
                            score,
                            _iso(min(self.now - 1, at + rng.uniform(0.01, 5) * DAY)),
                        )
                    )
        for ward in self.panel_wards:
            for _ in range(int(rng.random() < 0.5)):
                people = subscribers[ward]["instant"] + subscribers[ward]["weekly"]
                if people:
                    plans.append(
                        (
                            self.ago(rng.uniform(0, 89)),
                            "broadcast",
                            None,
                            ward,
                            people,
                            False,
                            None,
                            self.actor(self.team[ward][0]),
                        )
                    )
        for kind, key, ward, people, at in vote_plans:
            if since < at < self.now:
                plans.append((at, kind, key, ward, people, False, None, "bot"))
        plans.sort(key=lambda p: p[0])
        items, rows = [], []
        for item_id, (at, kind, key, ward, people, own, markup, by) in enumerate(plans, start=1):
            people = list(dict.fromkeys(people))
            langs = sorted({language.get(u, "en") for u in people})
            texts = {} if own else {lang: f"<b>{kind}</b> {rng.choice(WE_DID)}" for lang in langs}
            finished = at + 1 + len(people) / 28
            items.append(
                (
                    item_id,
                    kind,
                    key,
                    ward,
                    json.dumps(texts, ensure_ascii=False),
                    json.dumps(markup) if markup else None,
                    "done",
                    len(people),
                    by,
                    _iso(at),
                    _iso(at),
                    _iso(finished),
                )
            )
            for person in people:
                text = None
                if own:
                    entries = rng.randint(1, 4)
                    text = (
                        "🗓 <b>Your ward: you said, we did</b>\n\n"
                        + "\n\n".join(
                            f"• You said: {rng.choice(SENTENCES)}\n  We did: {rng.choice(WE_DID)}"
                            for _ in range(entries)
                        )
                        + "\n\n<i>Weekly digest. /updates to change or stop.</i>"
                    )
                if person in unreachable:
                    state, error, sent = "blocked", "Forbidden: bot was blocked by the user", None
                elif rng.random() < 0.01:
                    state, error, sent = "failed", "Timed out", None
                else:
                    state, error, sent = "sent", None, _iso(self.between(at, finished))
                attempts = 5 if state == "failed" else 0
                rows.append(
                    (
                        item_id,
                        person,
                        language.get(person, "en"),
                        text,
                        state,
                        attempts,
                        _iso(at),
                        sent,
                        error,
                    )
                )
        self.insert(
            "outbox_items",
            "id, kind, key, ward_code, texts, markup, state, total, created_by, created_at,"
            " queued_at, finished_at",
            items,
        )
        self.insert(
            "outbox",
            "item_id, chat_id, language, text, state, attempts, due_at, sent_at, error",
            rows,
        )
        self.insert("ratings", "concern_id, user_id, score, rated_at", self.rated)

    # --- the rest -----------------------------------------------------------------------

    def build_rest(self) -> None:
        rng = self.rng
        drafts, keys = [], set(self.conn.execute("SELECT draft_key FROM concerns").fetchall())
        taken = {k[0] for k in keys}
        staff_ids = {u for people in self.staff.values() for u in people}
        chosen = [
            r for r in rng.sample(self.residents, 400) if r.ward and r.user_id not in staff_ids
        ][:200]
        self.drafting = {r.user_id for r in chosen}
        for r in chosen:
            step = rng.choice(("category", "text", "place", "photo", "review"))
            category = rng.choice(list(CATEGORY_WEIGHTS)) if step != "category" else None
            text = _text(rng) if step in ("place", "photo", "review") else None
            lat, lon = (
                self.points(r.ward)
                if step in ("photo", "review") and rng.random() < 0.4
                else (None, None)
            )
            drafts.append(
                (
                    r.user_id,
                    _code(rng, KEY_ALPHABET, 8, taken),
                    step,
                    category,
                    text,
                    lat,
                    lon,
                    r.ward if lat is not None else None,
                    None,
                    0,
                    _iso(self.ago(rng.uniform(0, 3))),
                )
            )
        self.insert(
            "concern_drafts",
            "user_id, draft_key, step, category, text, lat, lon, ward_code, photo_file_id,"
            " reviewing, updated_at",
            drafts,
        )
        asked = [r for r in rng.sample(self.residents, 40) if r.user_id not in self.drafting][:10]
        self.insert(
            "forget_requests",
            "user_id, token, asked_at",
            [
                (r.user_id, _code(rng, KEY_ALPHABET, 8, taken), _iso(self.ago(rng.uniform(0, 0.9))))
                for r in asked
            ],
        )
        # Staff looking at their figures now and then (view_stats, export_csv).
        for ward in self.panel_wards:
            for _ in range(rng.randint(2, 12)):
                at = self.ago(rng.uniform(0, 700))
                who = self.actor(rng.choice(self.staff[ward]))
                if rng.random() < 0.2:
                    self.audit.append((at, who, "export_csv", ward, None, "done", "…"))
                else:
                    self.audit.append((at, who, "view_stats", ward, None, "done", ""))
        self.audit.sort(key=lambda a: a[0])
        cutoff = self.ago(730)
        self.insert(
            "audit_log",
            "at, actor, action, scope, target, outcome, detail",
            [(_iso(a[0]), *a[1:]) for a in self.audit if a[0] >= cutoff],
        )

    def build(self) -> dict[str, Any]:
        self.build_residents()
        self.build_staff()
        self.build_priorities()
        self.build_meetings()
        self.build_concerns()
        self.build_outcomes()
        self.set_digest_watermarks()
        vote_plans = self.build_votes()
        self.build_outbox(vote_plans)
        self.build_rest()
        return dict(self.counts)


async def build(path: Path, wards_file: Path, plan: Plan, now: datetime) -> dict[str, Any]:
    """A new database at `path`: the product imports the wards, then the rows go in."""
    await import_into(path, wards_file, None)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        counts = Builder(conn, plan, now).build()
        conn.execute("COMMIT")
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign key problems in the built database: {problems[:5]}")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return counts


def facts(path: Path) -> dict[str, Any]:
    """What the bench needs to know about a built database (largest ward, borough...)."""
    conn = sqlite3.connect(path)
    try:
        one = lambda sql, *p: conn.execute(sql, p).fetchone()  # noqa: E731
        ward = LARGEST_WARD
        chair = one("SELECT user_id FROM roles WHERE scope = ? AND role = 'panel_chair'", ward)[0]
        admin = one("SELECT user_id FROM admins ORDER BY user_id")[0]
        return {
            "largest_ward": ward,
            "largest_ward_residents": one(
                "SELECT count(*) FROM residents WHERE ward_code = ?", ward
            )[0],
            "largest_ward_concerns": one("SELECT count(*) FROM concerns WHERE ward_code = ?", ward)[
                0
            ],
            "largest_borough": LARGEST_BOROUGH,
            "largest_borough_concerns": one(
                "SELECT count(*) FROM concerns c JOIN wards w ON w.code = c.ward_code"
                " WHERE w.borough_code = ?",
                LARGEST_BOROUGH,
            )[0],
            "chair": chair,
            "admin": admin,
            "most_concerns_by_one_resident": one(
                "SELECT count(*) FROM concerns WHERE raised_by IS NOT NULL GROUP BY raised_by"
                " ORDER BY 1 DESC LIMIT 1"
            )[0],
            "rows": {
                table: one(f"SELECT count(*) FROM {table}")[0]
                for table in (
                    "wards",
                    "residents",
                    "concerns",
                    "concern_events",
                    "concern_supporters",
                    "roles",
                    "priorities",
                    "outcomes",
                    "meetings",
                    "outbox_items",
                    "outbox",
                    "ratings",
                    "votes",
                    "ballots",
                    "audit_log",
                )
            },
            "size_mb": round(path.stat().st_size / 1e6, 1),
        }
    finally:
        conn.close()
