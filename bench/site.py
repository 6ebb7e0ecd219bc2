"""Benchmark `wardvoice export-site` over every London ward (or all England and Wales).

Run by hand:  /work/venv/bin/python bench/site.py [--england-wales] [--runs 3] [--render]

Imports the real ward boundaries from ../shared/data into a temporary database, then fills
every ward with a busy panel's record through the storage functions the bot uses: 4
priorities, 6 "you said, we did" entries, 3 meetings (one cancelled, with agenda items from
a closed youth vote in one ward in ten), 5 residents with 3 concerns (text, place, photo
id), youth panel members and their ballots. Then times the real command, `python -m bot
export-site DIR`, as an operator runs it (a fresh process each run, Python's start-up
included; runs after the first replace the earlier export), and checks the output:

- one page per ward in force, plus the index;
- no personal data: every file is searched for every user id in residents, roles and
  ballots (as whole numbers), for `tg:`, and for the words every concern's text and photo
  id begins with;
- with `--render`: every page opened in headless Chromium (Debian's /usr/bin/chromium,
  through Playwright), counting pages with a console error or not answering 200.

Human lines, then one JSON line; exit status 1 if any check fails. Goal: ≤ 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.clock import to_iso  # noqa: E402
from bot.domain.concerns import new_ref  # noqa: E402
from bot.domain.imports import import_wards  # noqa: E402
from storage import concerns as concern_store  # noqa: E402
from storage import meetings as meeting_store  # noqa: E402
from storage import outcomes as outcome_store  # noqa: E402
from storage import priorities as priority_store  # noqa: E402
from storage import residents as resident_store  # noqa: E402
from storage import roles as role_store  # noqa: E402
from storage import votes as vote_store  # noqa: E402
from storage.db import Database  # noqa: E402

DATA = REPO.parent / "shared" / "data"
LONDON = DATA / "london_wards_2022_bsc.geojson"
ENGLAND_WALES = DATA / "england_wales_wards_2022_bsc.geojson"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FIRST_USER = 5_300_000_000
CATEGORIES = ("asb", "vandalism", "vehicle", "drugs", "burglary", "noise", "roads", "street")
GOAL_SECONDS = 30.0
CONCERN_TEXT = "Private concern text number"
PHOTO = "PHOTO-"


class _Clock:
    def now(self) -> datetime:
        return NOW


async def _fill(db: Database, rng: random.Random) -> dict[str, int]:
    """A year of a busy panel's record in every ward, written through storage."""
    wards = [r[0] for r in await db.fetchall("SELECT code FROM wards WHERE active = 1")]
    borough = {
        r[0]: r[1] for r in await db.fetchall("SELECT code, borough_code FROM wards")
    }  # fmt: skip
    user = FIRST_USER
    counts = {"priorities": 0, "outcomes": 0, "meetings": 0, "concerns": 0, "votes": 0}
    for n, code in enumerate(wards):
        staff = f"tg:{user}"
        await role_store.grant(db, user, code, "panel_chair", by="cli", now=to_iso(NOW))
        user += 1
        ids = []
        for k in range(4):
            p = await priority_store.add(
                db, code, f"Priority {k + 1}: {rng.choice(CATEGORIES)} near the high street",
                CATEGORIES[k], "What residents keep raising at the panel & online.",
                by=staff, now=to_iso(NOW - timedelta(days=200 - 30 * k)), max_active=5,
            )  # fmt: skip
            ids.append(p.id)
        for k in range(6):
            day = (NOW - timedelta(days=5 + 25 * k)).date().isoformat()
            await outcome_store.add(
                db, code, ids[k % 4], f"Priority {k % 4 + 1}",
                f"Patrols on {k + 2} evenings; {rng.randint(1, 30)} people spoken to.",
                day, by=staff, now=to_iso(NOW - timedelta(days=5 + 25 * k)),
            )  # fmt: skip
        meetings = []
        for k, days in enumerate((-30, 10, 45)):
            m = await meeting_store.add(
                db, code, to_iso(NOW + timedelta(days=days, hours=8 + k)),
                f"Community hall {k + 1}, Church Road", k != 2,
                "https://meet.example/panel" if k == 1 else None, by=staff, now=to_iso(NOW),
            )  # fmt: skip
            meetings.append(m.id)
        await meeting_store.cancel(db, meetings[2], by=staff, now=to_iso(NOW))
        for k in range(5):
            await resident_store.get_or_create(db, user, "en", to_iso(NOW))
            await resident_store.set_ward(db, user, code, "location", 51.5, -0.1, to_iso(NOW))
            if k < 3:
                await concern_store.file(
                    db, draft_key=f"d{user}", user_id=user, ward_code=code,
                    category=CATEGORIES[k], text=f"{CONCERN_TEXT} {user} here.",
                    lat=51.5 + k / 1000, lon=-0.1, photo_file_id=f"{PHOTO}{user}",
                    now=to_iso(NOW - timedelta(days=k)), day_ago=to_iso(NOW - timedelta(days=1)),
                    daily_limit=5, make_ref=new_ref,
                )  # fmt: skip
                counts["concerns"] += 1
            user += 1
        if n % 10 == 0:
            youth = list(range(user, user + 6))
            user += 6
            for y in youth:
                await role_store.grant(db, y, code, "youth", by="cli", now=to_iso(NOW))
            vote_id = await vote_store.create_draft(
                db, ward_code=code, borough_code=borough[code], meeting_id=meetings[1],
                items=[("Bike racks", "at the school"), ("Lights", None), ("Youth club", None)],
                audience="ward_youth", picks=2, places=2, close_hours=24, by=staff,
                now=to_iso(NOW),
            )  # fmt: skip
            await vote_store.open_vote(
                db, vote_id, to_iso(NOW + timedelta(days=2)), by=staff, now=to_iso(NOW)
            )
            for y in youth:
                for position in rng.sample((1, 2, 3), 2):
                    await vote_store.cast(db, vote_id, y, position, True, to_iso(NOW))
            await vote_store.close(db, vote_id, by="schedule", now=to_iso(NOW))
            vote = await vote_store.get(db, vote_id)
            assert vote is not None
            ranked = sorted(vote.items, key=lambda i: -(i.votes or 0))
            winners = [i.position for i in ranked[:2]]
            await vote_store.place_on_agenda(db, vote_id, meetings[1], winners, to_iso(NOW))
            await vote_store.mark_published(db, vote_id, to_iso(NOW))
            counts["votes"] += 1
        counts["priorities"] += 4
        counts["outcomes"] += 6
        counts["meetings"] += 3
    counts["wards"] = len(wards)
    counts["users"] = user - FIRST_USER
    return counts


async def _build(db_path: Path, wards_file: Path, seed: int) -> dict[str, int]:
    db = await Database.open(db_path)
    try:
        await import_wards(db, wards_file, _Clock())
        return await _fill(db, random.Random(seed))
    finally:
        await db.close()


async def _secrets(db_path: Path) -> list[str]:
    db = await Database.open(db_path)
    try:
        rows = await db.fetchall(
            "SELECT user_id FROM residents UNION SELECT user_id FROM roles"
            " UNION SELECT user_id FROM ballots"
        )
        texts = await db.fetchall("SELECT DISTINCT text, photo_file_id FROM concerns LIMIT 200")
    finally:
        await db.close()
    # Every concern's text and photo id here starts with these (see _fill); searching for
    # the shared part finds any of them in one pass, where thousands of whole texts would not.
    assert all(t.startswith(CONCERN_TEXT) and p.startswith(PHOTO) for t, p in texts)
    return [str(r[0]) for r in rows] + ["tg:", CONCERN_TEXT, PHOTO]


def _search(out: Path, needles: list[str]) -> list[str]:
    """Files holding any needle (numbers matched as whole numbers), in one pass a file."""
    numbers = {n for n in needles if n.isdigit()}
    words = [n for n in needles if not n.isdigit()]
    pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None
    hits = []
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        found = numbers.intersection(re.findall(r"(?<!\d)\d{6,}(?!\d)", text))
        if found or (pattern is not None and pattern.search(text)):
            hits.append(f"{path.relative_to(out)}: {sorted(found)[:3]}")
    return hits


def _render_all(out: Path) -> dict[str, object]:
    """Every page in headless Chromium: how many answered 200 with no console error."""
    sys.path.insert(0, str(REPO))
    from tests.browser import CHROMIUM, Browser, serve

    if not CHROMIUM.exists():
        return {"rendered": 0, "skipped": f"{CHROMIUM} missing (apt-get install chromium)"}
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))
    browser = Browser(CHROMIUM)
    bad: list[str] = []
    started = time.perf_counter()
    try:
        with serve(out) as base:
            for page in pages:
                view = browser.view(base + page, full=False)
                if view.status != 200 or view.console_errors:
                    bad.append(f"{page}: {view.status} {view.console_errors[:2]}")
    finally:
        browser.close()
    return {
        "rendered": len(pages),
        "render_seconds": round(time.perf_counter() - started, 1),
        "pages_with_errors": len(bad),
        "errors": bad[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--england-wales", action="store_true", help="all 7,665 wards")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="open every page in Chromium")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    wards_file = ENGLAND_WALES if args.england_wales else LONDON
    if not wards_file.is_file():
        print(f"missing {wards_file}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="wardvoice-site-") as tmp:
        folder = Path(tmp)
        db_path = folder / "wardvoice.db"
        started = time.perf_counter()
        counts = asyncio.run(_build(db_path, wards_file, args.seed))
        print(f"built {counts} in {time.perf_counter() - started:.1f} s")
        out = folder / "site"
        env = {**os.environ, "WARDVOICE_DB": str(db_path), "WARDVOICE_GEOCODER": "none"}
        env.pop("TELEGRAM_BOT_TOKEN", None)
        times = []
        for run in range(args.runs):
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "bot", "export-site", str(out)],
                cwd=REPO, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            times.append(time.perf_counter() - t0)
            if done.returncode != 0:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            print(f"run {run + 1}: {times[-1]:.2f} s — {done.stdout.strip().splitlines()[0]}")
        pages = len(list(out.rglob("index.html")))
        files = sum(1 for p in out.rglob("*") if p.is_file())
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        hits = _search(out, asyncio.run(_secrets(db_path)))
        figures: dict[str, object] = {
            "bench": "site",
            "wards": counts["wards"],
            "pages": pages,
            "files": files,
            "size_mb": round(size_mb, 1),
            "export_seconds_median": round(statistics.median(times), 2),
            "export_seconds_max": round(max(times), 2),
            "runs": len(times),
            "personal_data_hits": len(hits),
            "goal_seconds": GOAL_SECONDS,
            **{k: v for k, v in counts.items() if k != "wards"},
        }
        if args.render:
            figures.update(_render_all(out))
        print(f"pages {pages} (wards + index), files {files}, {size_mb:.1f} MB")
        print(f"personal data found: {hits[:5] or 'none'}")
        print(json.dumps(figures))
        ok = (
            pages == counts["wards"] + 1
            and not hits
            and max(times) <= GOAL_SECONDS
            and not figures.get("pages_with_errors")
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
