"""Gather the public record of every ward in force and write it out as a static site.

    DIR/index.html                  boroughs and their wards
    DIR/wards.json                  every ward: code, name, borough, where its files are
    DIR/style.css                   the one stylesheet (no JavaScript anywhere)
    DIR/wards/<CODE>/index.html     the ward's page
    DIR/wards/<CODE>/<CODE>.json    everything on the page, police.uk field shapes inside
    DIR/wards/<CODE>/priorities.json, events.json   the bare police.uk arrays
    DIR/wards/<CODE>/feed.atom      "you said, we did" as Atom 1.0
    DIR/wards/<CODE>/meetings.ics   the ward's meetings as iCalendar

Gathering reads through `storage.public` (a few bulk queries for all wards); rendering
and writing are plain functions of the gathered data, run in a thread.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from bot.clock import to_iso
from bot.site import feeds, render
from storage import public
from storage.db import Database
from storage.meetings import AgendaItem, Meeting
from storage.public import PublicOutcome, PublicPriority, PublicVote, PublicWard

MARKER = ".wardvoice-site"  # says a folder holds an export, so a new one may replace it
MEETINGS_PAST = timedelta(days=365)  # past meetings kept in the calendar file
CONCERNS_WINDOW = timedelta(days=365)  # concerns counted on the page
MEETING_LENGTH = timedelta(hours=2)  # meetings have no end time: assumed two hours


class SiteExportError(RuntimeError):
    """The site cannot be written where asked (a folder that is not an earlier export...)."""


@dataclass(frozen=True)
class PriorityRecord:
    priority: PublicPriority
    latest: PublicOutcome | None


@dataclass
class WardRecord:
    ward: PublicWard
    priorities: list[PriorityRecord] = field(default_factory=list)
    outcomes: list[PublicOutcome] = field(default_factory=list)  # newest first
    meetings: list[Meeting] = field(default_factory=list)  # soonest first, cancelled too
    agenda: dict[int, list[AgendaItem]] = field(default_factory=dict)
    votes: list[PublicVote] = field(default_factory=list)  # newest first
    concerns: dict[str, int] = field(default_factory=dict)  # category -> count

    @property
    def code(self) -> str:
        return self.ward.code

    def upcoming(self, now: str) -> list[Meeting]:
        """Meetings that have not started, cancelled ones included (they say so)."""
        return [m for m in self.meetings if m.starts_at > now]

    def is_empty(self) -> bool:
        return not (self.priorities or self.outcomes or self.meetings or self.votes)


@dataclass
class Site:
    generated_at: datetime  # UTC
    tz: tzinfo
    base_url: str  # "" for relative links only, else ends with "/"
    wards: list[WardRecord]

    @property
    def now(self) -> str:
        return to_iso(self.generated_at)

    def boroughs(self) -> list[tuple[str, str, list[WardRecord]]]:
        """(code, name, wards) in the order the wards came (by borough name, ward name)."""
        found: dict[str, tuple[str, str, list[WardRecord]]] = {}
        for record in self.wards:
            ward = record.ward
            if ward.borough_code not in found:
                found[ward.borough_code] = (ward.borough_code, ward.borough_name, [])
            found[ward.borough_code][2].append(record)
        return list(found.values())


@dataclass(frozen=True)
class ExportResult:
    wards: int
    boroughs: int
    files: int
    removed: int  # folders of wards no longer in force, left by an earlier export


async def gather(db: Database, now: datetime, tz: tzinfo, base_url: str = "") -> Site:
    """Read the public record of every ward in force (a handful of bulk queries)."""
    wards = await public.active_wards(db)
    records = {w.code: WardRecord(w) for w in wards}
    outcomes = await public.outcomes(db)
    latest: dict[int, PublicOutcome] = {}
    for outcome in outcomes:  # newest first: the first one seen per priority is its latest
        if outcome.priority_id is not None:
            latest.setdefault(outcome.priority_id, outcome)
        if outcome.ward_code in records:
            records[outcome.ward_code].outcomes.append(outcome)
    for priority in await public.active_priorities(db):
        if priority.ward_code in records:
            records[priority.ward_code].priorities.append(
                PriorityRecord(priority, latest.get(priority.id))
            )
    since = to_iso(now - MEETINGS_PAST)
    agenda = await public.agenda_since(db, since)
    for meeting in await public.meetings_since(db, since):
        record = records.get(meeting.ward_code)
        if record is not None:
            record.meetings.append(meeting)
            record.agenda[meeting.id] = agenda.get(meeting.id, [])
    for vote in await public.closed_votes(db):
        if vote.ward_code in records:
            records[vote.ward_code].votes.append(vote)
    counts = await public.concern_counts_since(db, to_iso(now - CONCERNS_WINDOW))
    for code, by_category in counts.items():
        if code in records:
            records[code].concerns = by_category
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    return Site(now, tz, base_url, list(records.values()))


def _prepare(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SiteExportError(f"{out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise SiteExportError(
            f"{out_dir} is not empty and holds no earlier export; choose an empty or new folder"
        )
    try:
        (out_dir / "wards").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SiteExportError(f"cannot create {out_dir}: {err.strerror or err}") from err


def _write(path: Path, text: str) -> None:
    # newline="": the iCalendar's CRLF line ends are written as they are.
    path.write_text(text, encoding="utf-8", newline="")


def write_site(
    site: Site, out_dir: Path, progress: Callable[[str], None] = lambda _line: None
) -> ExportResult:
    """Render and write every file (blocking file I/O: run it in a thread from async code)."""
    _prepare(out_dir)
    files = 0
    try:
        (out_dir / MARKER).write_text(
            "Written by wardvoice export-site; the next export replaces this folder's wards.\n",
            encoding="utf-8",
        )
        _write(out_dir / "style.css", render.STYLESHEET)
        _write(out_dir / "index.html", render.index_page(site))
        _write(out_dir / "wards.json", feeds.dump_json(feeds.wards_index(site)))
        files += 3
        wards_dir = out_dir / "wards"
        for n, record in enumerate(site.wards, start=1):
            folder = wards_dir / record.code
            folder.mkdir(exist_ok=True)
            _write(folder / "index.html", render.ward_page(site, record))
            _write(folder / f"{record.code}.json", feeds.dump_json(feeds.ward_json(site, record)))
            _write(folder / "priorities.json", feeds.dump_json(feeds.priorities(site, record)))
            _write(folder / "events.json", feeds.dump_json(feeds.events(site, record)))
            _write(folder / "feed.atom", feeds.atom(site, record))
            _write(folder / "meetings.ics", feeds.icalendar(site, record))
            files += 6
            if n % 1000 == 0:
                progress(f"wrote {n} of {len(site.wards)} wards")
        current = {record.code for record in site.wards}
        stale = [p for p in wards_dir.iterdir() if p.is_dir() and p.name not in current]
        for folder in stale:
            shutil.rmtree(folder)
    except OSError as err:
        raise SiteExportError(f"cannot write the site to {out_dir}: {err}") from err
    return ExportResult(len(site.wards), len(site.boroughs()), files, len(stale))


async def export_site(
    db: Database,
    out_dir: Path,
    *,
    now: datetime,
    tz: tzinfo,
    base_url: str = "",
    progress: Callable[[str], None] = lambda _line: None,
) -> ExportResult:
    """The public record of every ward in force, written to `out_dir`."""
    site = await gather(db, now, tz, base_url)
    return await asyncio.to_thread(write_site, site, out_dir, progress)
