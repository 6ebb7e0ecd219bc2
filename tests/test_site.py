"""`wardvoice export-site DIR`: the public record as a static site.

A ward's panel, team, residents and youth panel use the real bot (against the fake Bot
API); the site is exported; then its pages are opened in headless Chromium (Debian's
package, installed here when missing) and read as a person would, the Atom feed and the
calendar are read back by real parsers (feedparser, icalendar), the JSON is checked for
the police.uk field shapes, and every file is searched for anything personal: the ids of
everyone the database knows, `tg:` actor ids, names, a concern's text, place and photo.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import icalendar
import pytest

from bot.cli import main
from bot.domain.imports import import_wards
from bot.domain.priorities import add_priority, record_action
from bot.domain.roles import Role
from bot.site import SiteExportError, export_site
from bot.site.export import MARKER
from bot.site.feeds import _fold
from storage import concerns as concern_store
from storage import meetings as meeting_store
from storage.db import Database
from tests.browser import Browser, PageView, accessibility_problems, ensure_chromium, serve
from tests.conftest import FakeClock, Person, World
from tests.staffing import invite_code
from tests.synthetic import SYNTHETIC_WARDS, synthetic_wards_geojson
from tests.test_votes import london, move_to, open_vote, pick, young_person

KINGSMEAD, OLD_TOWN = "E05900002", "E05900011"
MEETING = "/meeting 2026-12-03 19:00 | St Mark's Church Hall, Mill Lane | open"
LONG_VENUE = (
    "Salle polyvalente « Les Amis », Café Ünïcödé ☕; Room 2, Kingsmead Community Centre, "
    "Long Road, behind the library (use the side entrance on Mill Lane, step-free)"
)
CONCERN_TEXT = "Someone keeps parking across the dropped kerb outside number 42 Quillfeather Row."
PLACE = (51.48731, -0.15517)  # inside Kingsmead
NAMES = ("Philomena", "Bartholomew", "Ottoline")
SCRIPT_TITLE = "<script>alert('x')</script> & graffiti"
REF = re.compile(r"WV-[2-9A-HJKMNP-Z]{5}")
PHONE_IDS_FROM = 5_270_000_000  # Telegram-sized ids: no chance of matching a date or a count


# --- the browser, once per session ------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = ensure_chromium()
    b = Browser(chromium)
    yield b
    b.close()


# --- the scenario -------------------------------------------------------------------------------


async def _staff(world: World, ward: str, role: Role, name: str) -> Person:
    person = world.person(first_name=name)
    await person.says(f"/start {ward}")
    joined = await person.says(f"/join {await invite_code(world, ward, role)}")
    assert "You are now a" in joined.text
    return person


async def _raise_concern(world: World) -> tuple[Person, str]:
    resident = world.person(first_name="Bartholomew")
    await resident.says(f"/start {KINGSMEAD}")
    await resident.says("/concern")
    await resident.taps("Road safety")
    await resident.says(CONCERN_TEXT)
    await resident.shares_location(*PLACE)
    await resident.sends(resident.sim.photo())
    sent = await resident.taps("Send")
    found = REF.search(sent.text)
    assert found, sent.text
    return resident, found.group(0)


@dataclass
class Scenario:
    chair: Person
    resident: Person
    ref: str
    priority_ids: list[int]
    cancelled_meeting: int


async def _scenario(world: World) -> Scenario:
    """Kingsmead's panel at work: priorities, a concern taken up and acted on, meetings
    (one cancelled, one closed to the public), and a youth vote that closed."""
    world._next_user = PHONE_IDS_FROM
    svc = world.services
    chair = await _staff(world, KINGSMEAD, Role.PANEL_CHAIR, "Philomena")
    assert "scheduled" in (await chair.says(MEETING)).text
    later = await chair.says(
        f"/meeting 2027-01-14 18:30 | {LONG_VENUE} | open | https://meet.example/kingsmead"
    )
    assert "scheduled" in later.text
    closed = await chair.says(
        "/meeting 2027-02-11 19:00 | Police office, Mill Lane | closed | https://meet.example/x9"
    )
    assert "scheduled" in closed.text
    await chair.says("/meeting 2026-12-10 18:00 | Kingsmead Library | open")
    [cancelled] = [
        m.id
        for m in await meeting_store.upcoming(world.db, KINGSMEAD, "2026-12-09", 10)
        if m.venue == "Kingsmead Library"
    ]
    assert "Cancelled meeting" in (await chair.says(f"/cancelmeeting {cancelled}")).text

    resident, ref = await _raise_concern(world)
    by = f"tg:{chair.user_id}"
    speeding = await add_priority(
        svc.db, svc.clock, svc.wards, KINGSMEAD, "Speeding on Mill Lane", "roads",
        "Cars racing at night near the school.", by=by,
    )  # fmt: skip
    graffiti = await add_priority(
        svc.db, svc.clock, svc.wards, KINGSMEAD, SCRIPT_TITLE, "vandalism", by=by
    )
    drugs = await add_priority(
        svc.db, svc.clock, svc.wards, KINGSMEAD, "Drug dealing in Kingsmead Park", "drugs", by=by
    )
    posted = await chair.says(
        f"/wedid #{speeding.id} {ref} Speed checks on three evenings; 14 drivers stopped."
    )
    assert "On its way" in posted.text
    world.clock.advance(days=1)
    await record_action(
        svc.db, svc.clock, drugs.id, "Two dispersal orders in the park.", by=by
    )  # fmt: skip

    member = await _staff(world, KINGSMEAD, Role.PANEL_MEMBER, "Ottoline")
    youth = [await young_person(world) for _ in range(3)]
    vote_id = await open_vote(world, member)
    for person, numbers in zip(youth, [(1, 2), (1, 2), (1, 3)], strict=True):
        for number in numbers:
            await pick(world, person, vote_id, number)
    await move_to(world, london("2026-12-02T19:00"))
    return Scenario(chair, resident, ref, [speeding.id, graffiti.id, drugs.id], cancelled)


async def _personal_data(world: World, scenario: Scenario) -> list[str]:
    """Everything about people the database holds that the site must never show."""
    rows = await world.db.fetchall(
        "SELECT user_id FROM residents UNION SELECT user_id FROM roles"
        " UNION SELECT user_id FROM ballots UNION SELECT user_id FROM concern_supporters"
        " UNION SELECT user_id FROM admins UNION SELECT raised_by FROM concerns"
        " WHERE raised_by IS NOT NULL"
    )
    ids = [str(r[0]) for r in rows]
    assert str(scenario.chair.user_id) in ids and str(scenario.resident.user_id) in ids
    concern = await concern_store.by_ref(world.db, scenario.ref)
    assert concern is not None and concern.photo_file_id and concern.lat is not None
    codes = [r[0] for r in await world.db.fetchall("SELECT code FROM invites")]
    return [
        *ids,
        "tg:",
        CONCERN_TEXT,
        "Quillfeather",
        scenario.ref,
        concern.photo_file_id,
        f"{PLACE[0]:.4f}",
        f"{PLACE[1]:.4f}",
        *NAMES,
        *codes,
    ]


def _found(out: Path, needles: list[str]) -> list[str]:
    """(file, needle) for every needle found in any file of the site; numbers as whole
    numbers only."""
    hits = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        for needle in needles:
            if needle.isdigit():
                hit = re.search(rf"(?<!\d){needle}(?!\d)", text)
            else:
                hit = needle in text  # type: ignore[assignment]
            if hit:
                hits.append(f"{path.relative_to(out)}: {needle}")
    return hits


def _strict_xml(path: Path) -> ET.Element:
    """Pages are well-formed XML as well as HTML: parse them strictly."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.removeprefix("<!DOCTYPE html>\n"))


# --- the tests --------------------------------------------------------------------------------


async def test_ward_site_shows_the_public_record_to_a_person_and_nothing_personal(
    world: World, tmp_path: Path, browser: Browser
) -> None:
    scenario = await _scenario(world)
    out = tmp_path / "site"
    result = await export_site(world.db, out, now=world.clock.now(), tz=world.services.settings.tz)
    assert (result.wards, result.boroughs) == (len(SYNTHETIC_WARDS), 2)
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("index.html"))
    assert len(pages) == len(SYNTHETIC_WARDS) + 1
    assert f"wards/{KINGSMEAD}/index.html" in pages
    for name in ("feed.atom", "meetings.ics", f"{KINGSMEAD}.json", "events.json"):
        assert (out / "wards" / KINGSMEAD / name).is_file()

    # Nothing personal anywhere: ids, actors, names, the concern's text, place and photo.
    assert _found(out, await _personal_data(world, scenario)) == []
    # Concerns only as a count per kind.
    ward_json = json.loads((out / "wards" / KINGSMEAD / f"{KINGSMEAD}.json").read_text())
    assert ward_json["wardvoice"]["concerns_last_12_months"] == {"roads": 1}

    # Every HTML page: well-formed, no script, every image described.
    for page in out.rglob("*.html"):
        root = _strict_xml(page)
        assert root.get("lang") == "en"
        assert not root.findall(".//script")
        assert all(img.get("alt") is not None for img in root.iter("img"))

    with serve(out) as base:
        ward = await browser.aview(f"{base}wards/{KINGSMEAD}/index.html")
        index = await browser.aview(f"{base}index.html")
        empty = await browser.aview(f"{base}wards/{OLD_TOWN}/index.html")
    for view in (ward, index, empty):
        assert view.status == 200, view.url
        assert view.console_errors == [], view.console_errors
        assert accessibility_problems(view) == [], (view.url, accessibility_problems(view))

    seen = re.sub(r"\n+", "\n", ward.text)
    assert [h for level, h in ward.look["headings"] if level <= 2] == [
        "Kingsmead",
        "Current priorities",
        "You said, we did",
        "Next meetings",
        "Agenda vote results",
        "Concerns raised",
        "Open data",
    ]
    # The priorities, with the latest action on each, and the escaped title as text.
    assert "Speeding on Mill Lane" in seen and "Cars racing at night near the school." in seen
    assert SCRIPT_TITLE in seen, "markup in a title is shown as text, never run"
    assert "Latest action (24 November 2026): Two dispersal orders in the park." in seen
    assert "Latest action (23 November 2026): Speed checks on three evenings" in seen
    # "You said, we did", newest first.
    said = seen.index("You said, we did")
    assert seen.index("Two dispersal orders", said) < seen.index("14 drivers stopped", said)
    assert "We did: Speed checks on three evenings; 14 drivers stopped." in seen
    # The next meetings, soonest first, with the vote's winners on the agenda.
    meetings = seen[seen.index("Next meetings") : seen.index("Agenda vote results")]
    assert meetings.index("Thursday 3 December 2026, 19:00") < meetings.index(
        "Thursday 14 January 2027, 18:30"
    )
    assert "Where: St Mark's Church Hall, Mill Lane" in meetings
    assert "Bike racks at the school gate (chosen in a vote)" in meetings
    assert "Thursday 10 December 2026, 18:00\nCancelled." in meetings
    assert "Online: https://meet.example/kingsmead" in meetings
    assert "Closed meeting: for panel members only." in meetings
    assert "meet.example/x9" not in "".join(p.read_text() for p in out.rglob("*.*")), (
        "a closed meeting's link is not published"
    )
    # The vote's results: counts, winners, turnout.
    votes = seen[seen.index("Agenda vote results") : seen.index("Concerns raised")]
    assert "Bike racks at the school gate — so fewer bikes get stolen\t3\tYes" in votes
    assert "Youth club open on Fridays — it shuts at 6 now\t1\tNo" in votes
    assert "Turnout: 3 of 3 people who could vote (100%)." in votes
    assert "Road safety\t1" in seen
    # A ward with nothing yet says so; the index lists both boroughs and links every ward.
    assert "Nothing has been recorded for this ward yet" in empty.text
    assert "No meetings are scheduled." in empty.text
    assert "Northbank" in index.text and "Southbank" in index.text
    assert "Kingsmead (3 priorities, next meeting 3 December 2026)" in index.text
    assert "Old Town (nothing recorded yet)" in index.text


async def test_feeds_parse_with_real_parsers_and_json_keeps_police_uk_shapes(
    world: World, tmp_path: Path
) -> None:
    scenario = await _scenario(world)
    out = tmp_path / "site"
    await export_site(
        world.db,
        out,
        now=world.clock.now(),
        tz=world.services.settings.tz,
        base_url="https://wards.example.org/record",
    )
    folder = out / "wards" / KINGSMEAD

    feed = feedparser.parse((folder / "feed.atom").read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Kingsmead (Northbank): you said, we did"
    assert feed.feed.link == f"https://wards.example.org/record/wards/{KINGSMEAD}/index.html"
    assert [e.title for e in feed.entries] == [
        "You said: Drug dealing in Kingsmead Park",
        "You said: Speeding on Mill Lane",
    ]
    assert feed.entries[1].summary == "We did: Speed checks on three evenings; 14 drivers stopped."
    assert len({e.id for e in feed.entries}) == 2
    empty_feed = feedparser.parse((out / "wards" / OLD_TOWN / "feed.atom").read_bytes())
    assert empty_feed.bozo == 0 and empty_feed.entries == []

    calendar = icalendar.Calendar.from_ical((folder / "meetings.ics").read_bytes())
    events = {e.decoded("DTSTART"): e for e in calendar.walk("VEVENT")}
    assert len(events) == 4
    first = events[datetime(2026, 12, 3, 19, 0, tzinfo=UTC)]  # GMT in December
    assert first.decoded("DTEND") == datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
    assert str(first["SUMMARY"]) == "Kingsmead ward panel meeting"
    assert str(first["LOCATION"]) == "St Mark's Church Hall, Mill Lane"
    assert "Bike racks at the school gate" in str(first["DESCRIPTION"])
    assert str(first["STATUS"]) == "CONFIRMED"
    long_one = events[datetime(2027, 1, 14, 18, 30, tzinfo=UTC)]
    assert str(long_one["LOCATION"]) == LONG_VENUE, "folded and escaped, read back whole"
    assert str(long_one["URL"]) == "https://meet.example/kingsmead"
    assert str(events[datetime(2026, 12, 10, 18, 0, tzinfo=UTC)]["STATUS"]) == "CANCELLED"
    assert "URL" not in events[datetime(2027, 2, 11, 19, 0, tzinfo=UTC)], "closed: no link"
    raw = (folder / "meetings.ics").read_bytes()
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "lines folded at 75 octets"
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert icalendar.Calendar.from_ical((out / "wards" / OLD_TOWN / "meetings.ics").read_bytes())

    data = json.loads((folder / f"{KINGSMEAD}.json").read_text())
    assert data["ward"] == {
        "code": KINGSMEAD,
        "name": "Kingsmead",
        "borough": {"code": "E09900001", "name": "Northbank"},
    }
    assert [set(p) for p in data["priorities"]] == [
        {"issue", "issue-date", "action", "action-date"}
    ] * 3
    assert data["priorities"][0] == {
        "issue": "Speeding on Mill Lane: Cars racing at night near the school.",
        "issue-date": "2026-11-23T00:00:00",
        "action": "Speed checks on three evenings; 14 drivers stopped.",
        "action-date": "2026-11-23T00:00:00",
    }
    assert data["priorities"][1]["action"] is None and data["priorities"][1]["action-date"] is None
    assert data["events"][0] == {
        "contact_details": {},
        "description": "Open to the public: all welcome. On the agenda: Bike racks at the "
        "school gate; More street lights on Mill Lane.",
        "title": "Kingsmead ward panel meeting",
        "address": "St Mark's Church Hall, Mill Lane",
        "type": "meeting",
        "start_date": "2026-12-03T19:00:00",
        "end_date": "2026-12-03T21:00:00",
    }
    assert len(data["events"]) == 3, "the cancelled meeting is not an event"
    assert json.loads((folder / "priorities.json").read_text()) == data["priorities"]
    assert json.loads((folder / "events.json").read_text()) == data["events"]
    [vote] = data["wardvoice"]["votes"]
    assert (vote["voters"], vote["eligible"], vote["turnout"]) == (3, 3, 1.0)
    assert [(i["title"], i["votes"], i["on_agenda"]) for i in vote["items"]] == [
        ("Bike racks at the school gate", 3, True),
        ("More street lights on Mill Lane", 2, True),
        ("Youth club open on Fridays", 1, False),
    ]
    assert vote["agenda_meeting_starts_at"] == "2026-12-03T19:00:00+00:00"
    assert [o["we_did"] for o in data["wardvoice"]["you_said_we_did"]] == [
        "Two dispersal orders in the park.",
        "Speed checks on three evenings; 14 drivers stopped.",
    ]
    index = json.loads((out / "wards.json").read_text())
    assert len(index) == len(SYNTHETIC_WARDS)
    [entry] = [w for w in index if w["id"] == KINGSMEAD]
    assert entry == {
        "id": KINGSMEAD,
        "name": "Kingsmead",
        "borough": {"code": "E09900001", "name": "Northbank"},
        "page": f"wards/{KINGSMEAD}/index.html",
        "json": f"wards/{KINGSMEAD}/{KINGSMEAD}.json",
        "feed": f"wards/{KINGSMEAD}/feed.atom",
        "calendar": f"wards/{KINGSMEAD}/meetings.ics",
    }
    assert _found(out, await _personal_data(world, scenario)) == []


def _without(source: Path, target: Path, code: str) -> Path:
    data = json.loads(source.read_text())
    data["features"] = [f for f in data["features"] if code not in json.dumps(f["properties"])]
    target.write_text(json.dumps(data))
    return target


async def test_retired_wards_are_left_out_and_their_old_pages_removed(
    db: Database, tmp_path: Path
) -> None:
    wards = synthetic_wards_geojson(tmp_path / "wards.geojson")
    await import_wards(db, wards, FakeClock())
    out = tmp_path / "site"
    now = FakeClock().now()
    first = await export_site(db, out, now=now, tz=UTC)
    assert first.wards == 12 and (out / "wards" / OLD_TOWN / "index.html").is_file()

    await import_wards(db, _without(wards, tmp_path / "fewer.geojson", OLD_TOWN), FakeClock())
    again = await export_site(db, out, now=now, tz=UTC)
    assert (again.wards, again.removed) == (11, 1)
    assert not (out / "wards" / OLD_TOWN).exists()
    assert OLD_TOWN not in (out / "index.html").read_text()
    assert OLD_TOWN not in (out / "wards.json").read_text()


async def test_export_refuses_a_folder_that_holds_something_else(
    db: Database, tmp_path: Path
) -> None:
    await import_wards(db, synthetic_wards_geojson(tmp_path / "wards.geojson"), FakeClock())
    busy = tmp_path / "documents"
    busy.mkdir()
    (busy / "thesis.txt").write_text("mine")
    with pytest.raises(SiteExportError, match="not empty and holds no earlier export"):
        await export_site(db, busy, now=FakeClock().now(), tz=UTC)
    assert [p.name for p in busy.iterdir()] == ["thesis.txt"]
    assert (await export_site(db, tmp_path / "new" / "site", now=FakeClock().now(), tz=UTC)).files
    assert (tmp_path / "new" / "site" / MARKER).is_file()


def test_operator_exports_the_site_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDVOICE_DB", str(tmp_path / "wardvoice.db"))
    monkeypatch.setenv("WARDVOICE_GEOCODER", "none")
    assert main(["import-wards", str(synthetic_wards_geojson(tmp_path / "w.geojson"))]) == 0
    capsys.readouterr()
    assert main(["export-site", "public"]) == 0
    said = capsys.readouterr().out
    assert "Wrote the public record of 12 wards in 2 boroughs to public (75 files)" in said
    assert (tmp_path / "public" / "wards" / KINGSMEAD / "index.html").is_file()
    assert main(["export-site", "public"]) == 0, "an earlier export is replaced"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("x")
    assert main(["export-site", "elsewhere"]) == 1
    err = capsys.readouterr().err
    assert "wardvoice: elsewhere is not empty" in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["a" * 200, "é" * 100, "☕" * 60 + ",;\\", "x" * 74])
def test_calendar_lines_fold_at_75_octets_and_unfold_to_the_same_text(text: str) -> None:
    folded = _fold(f"LOCATION:{text}")
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == f"LOCATION:{text}"


# --- the real London wards ------------------------------------------------------------------


async def test_all_london_wards_export_fast_with_no_personal_data(
    london: World, tmp_path: Path, browser: Browser
) -> None:
    world = london
    world._next_user = PHONE_IDS_FROM
    svc = world.services
    ward_codes = [w.code for w in svc.wards.index.wards()]
    chair = await _staff(world, ward_codes[0], Role.PANEL_CHAIR, "Philomena")
    assert "scheduled" in (await chair.says(MEETING)).text
    resident = world.person(first_name="Bartholomew")
    await resident.says(f"/start {ward_codes[0]}")
    await resident.says("/concern")
    await resident.taps("Road safety")
    await resident.says(CONCERN_TEXT)
    await resident.taps("Skip")
    await resident.taps("Skip")
    await resident.taps("Send")
    for code in ward_codes[:40]:
        for n, category in enumerate(("roads", "asb", "drugs")):
            p = await add_priority(
                svc.db, svc.clock, svc.wards, code, f"Priority {n + 1} of {code}", category, by="t"
            )
        await record_action(svc.db, svc.clock, p.id, "Patrols on three evenings.", by="t")

    out = tmp_path / "london"
    started = time.perf_counter()
    result = await export_site(world.db, out, now=world.clock.now(), tz=svc.settings.tz)
    elapsed = time.perf_counter() - started
    active = int(await world.db.fetchval("SELECT count(*) FROM wards WHERE active = 1"))
    assert result.wards == active == len(ward_codes) > 600
    assert result.boroughs == 33
    assert len(list((out / "wards").glob("*/index.html"))) == active
    assert elapsed <= 30, f"exporting {active} wards took {elapsed:.1f} s"
    rows = await world.db.fetchall(
        "SELECT user_id FROM residents UNION SELECT user_id FROM roles"
    )  # fmt: skip
    needles = [str(r[0]) for r in rows] + ["tg:", CONCERN_TEXT, *NAMES]
    assert len(needles) >= 5
    assert _found(out, needles) == []

    with serve(out) as base:
        views: list[PageView] = [await browser.aview(f"{base}index.html")]
        for code in (ward_codes[0], ward_codes[1], ward_codes[-1]):
            views.append(await browser.aview(f"{base}wards/{code}/index.html"))
    for view in views:
        assert view.status == 200 and view.console_errors == [], (view.url, view.console_errors)
        assert accessibility_problems(view) == [], (view.url, accessibility_problems(view))
    assert "Westminster" in views[0].text and "Barking and Dagenham" in views[0].text
    assert "Priority 1 of" in views[1].text and "Patrols on three evenings." in views[1].text
