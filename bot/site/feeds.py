"""The machine-readable side of the site: JSON, an Atom feed and an iCalendar file per ward.

JSON keeps the field shapes of the police.uk neighbourhood API, so its consumers can read
it: priorities are `issue`, `issue-date`, `action`, `action-date`; events are `title`,
`description`, `address`, `type`, `start_date`, `end_date`, `contact_details`, with dates
as local date-times without an offset (`2026-12-03T19:00:00`) as police.uk gives them.
Everything else sits under the `wardvoice` key, with full ISO moments.

Meetings have no end time in WardVoice: `end_date` and the calendar's DTEND are the start
plus two hours (`MEETING_LENGTH`), and say so.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.clock import from_iso
from bot.site.text import AUDIENCES, category_label, clean, day_text, esc, local

if TYPE_CHECKING:
    from bot.site.export import Site, WardRecord
    from storage.meetings import AgendaItem, Meeting

MEETING_LENGTH = timedelta(hours=2)
FEED_ENTRIES = 50  # newest "you said, we did" entries in a ward's Atom feed
PRODID = "-//WardVoice//Ward panel public record//EN"
END_NOTE = "The end time is an estimate: meetings are listed as two hours long."


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) + "\n"


def _naive_local(site: Site, moment: str) -> str:
    """police.uk's form: local time, no offset, seconds (`2026-12-03T19:00:00`)."""
    return local(moment, site.tz).replace(tzinfo=None).isoformat(timespec="seconds")


def _day_start(day: str) -> str:
    return f"{date.fromisoformat(day).isoformat()}T00:00:00"


def _ward_url(site: Site, record: WardRecord, name: str = "index.html") -> str:
    """Absolute with a base URL; otherwise relative to the ward's folder, where the JSON
    and the feed that carry it live."""
    return f"{site.base_url}wards/{record.code}/{name}" if site.base_url else name


def _uid(site: Site, kind: str, ward: str, item_id: int) -> str:
    """A stable id for a feed entry or calendar event, distinct per published site."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"wardvoice:{site.base_url}:{ward}:{kind}:{item_id}"))


# --- JSON --------------------------------------------------------------------------------


def priorities(site: Site, record: WardRecord) -> list[dict[str, Any]]:
    """The ward's active priorities as police.uk's `/{force}/{neighbourhood}/priorities`."""
    found = []
    for item in record.priorities:
        p = item.priority
        issue = f"{p.title}: {p.description}" if p.description else p.title
        found.append(
            {
                "issue": clean(issue),
                "issue-date": _day_start(local(p.set_at, site.tz).date().isoformat()),
                "action": clean(item.latest.we_did) if item.latest else None,
                "action-date": _day_start(item.latest.action_date) if item.latest else None,
            }
        )
    return found


def _meeting_title(record: WardRecord) -> str:
    return f"{record.ward.name} ward panel meeting"


def _meeting_description(meeting: Meeting, agenda: list[AgendaItem]) -> str:
    parts = [
        "Open to the public: all welcome."
        if meeting.open_to_public
        else "Closed meeting: for panel members only."
    ]
    if meeting.open_to_public and meeting.online_link:
        parts.append(f"Online: {meeting.online_link}")
    if agenda:
        parts.append("On the agenda: " + "; ".join(item.title for item in agenda) + ".")
    return clean(" ".join(parts))


def _upcoming(site: Site, record: WardRecord) -> list[Meeting]:
    return [m for m in record.upcoming(site.now) if m.cancelled_at is None]


def events(site: Site, record: WardRecord) -> list[dict[str, Any]]:
    """The ward's coming meetings as police.uk's `/{force}/{neighbourhood}/events`."""
    found = []
    for m in _upcoming(site, record):
        end = (from_iso(m.starts_at) + MEETING_LENGTH).isoformat()
        found.append(
            {
                "contact_details": {},
                "description": _meeting_description(m, record.agenda.get(m.id, [])),
                "title": clean(_meeting_title(record)),
                "address": clean(m.venue),
                "type": "meeting",
                "start_date": _naive_local(site, m.starts_at),
                "end_date": _naive_local(site, end),
            }
        )
    return found


def _moment(site: Site, iso: str | None) -> str | None:
    return None if iso is None else local(iso, site.tz).isoformat()


def ward_json(site: Site, record: WardRecord) -> dict[str, Any]:
    ward = record.ward
    upcoming = record.upcoming(site.now)
    return {
        "ward": {
            "code": ward.code,
            "name": clean(ward.name),
            "borough": {"code": ward.borough_code, "name": clean(ward.borough_name)},
        },
        "url": _ward_url(site, record),
        "generated_at": _moment(site, site.now),
        "timezone": getattr(site.tz, "key", str(site.tz)),
        "priorities": priorities(site, record),
        "events": events(site, record),
        "wardvoice": {
            "priorities": [
                {
                    "id": item.priority.id,
                    "title": clean(item.priority.title),
                    "description": clean(item.priority.description),
                    "category": item.priority.category,
                    "category_label": category_label(item.priority.category),
                    "since": _moment(site, item.priority.set_at),
                    "latest_action": None
                    if item.latest is None
                    else {"we_did": clean(item.latest.we_did), "date": item.latest.action_date},
                }
                for item in record.priorities
            ],
            "you_said_we_did": [
                {
                    "id": o.id,
                    "date": o.action_date,
                    "you_said": clean(o.you_said),
                    "we_did": clean(o.we_did),
                    "priority_id": o.priority_id,
                    "recorded_at": _moment(site, o.created_at),
                }
                for o in record.outcomes
            ],
            "meetings": [
                {
                    "id": m.id,
                    "starts_at": _moment(site, m.starts_at),
                    "ends_at": _moment(site, (from_iso(m.starts_at) + MEETING_LENGTH).isoformat()),
                    "end_is_estimate": True,
                    "venue": clean(m.venue),
                    "open_to_public": m.open_to_public,
                    "online_link": clean(m.online_link)
                    if m.open_to_public and m.online_link
                    else None,
                    "cancelled": m.cancelled_at is not None,
                    "agenda": [
                        {
                            "title": clean(a.title),
                            "detail": None if a.detail is None else clean(a.detail),
                            "chosen_in_vote": a.vote_id is not None,
                            "votes": a.votes,
                        }
                        for a in record.agenda.get(m.id, [])
                    ],
                }
                for m in upcoming
            ],
            "votes": [
                {
                    "id": v.id,
                    "closed_at": _moment(site, v.closed_at),
                    "audience": v.audience,
                    "audience_label": AUDIENCES.get(v.audience, v.audience),
                    "picks": v.picks,
                    "places": v.places,
                    "voters": v.voters,
                    "eligible": v.eligible,
                    "turnout": round(v.voters / v.eligible, 4) if v.eligible else None,
                    "agenda_meeting_starts_at": _moment(site, v.agenda_meeting_starts_at),
                    "items": [
                        {
                            "position": i.position,
                            "title": clean(i.title),
                            "detail": None if i.detail is None else clean(i.detail),
                            "votes": i.votes,
                            "on_agenda": i.won,
                        }
                        for i in v.items
                    ],
                }
                for v in record.votes
            ],
            "concerns_last_12_months": dict(sorted(record.concerns.items())),
            "meeting_end_note": END_NOTE,
        },
    }


def wards_index(site: Site) -> list[dict[str, Any]]:
    """Every ward in force, with its borough and where its files are."""
    return [
        {
            "id": r.code,
            "name": clean(r.ward.name),
            "borough": {"code": r.ward.borough_code, "name": clean(r.ward.borough_name)},
            "page": f"wards/{r.code}/index.html",
            "json": f"wards/{r.code}/{r.code}.json",
            "feed": f"wards/{r.code}/feed.atom",
            "calendar": f"wards/{r.code}/meetings.ics",
        }
        for r in site.wards
    ]


# --- Atom 1.0 (RFC 4287) -------------------------------------------------------------------


def atom(site: Site, record: WardRecord) -> str:
    """The ward's newest "you said, we did" entries as an Atom 1.0 feed."""
    ward = record.ward
    entries = record.outcomes[:FEED_ENTRIES]
    updated = max((o.created_at for o in entries), default=site.now)
    page = _ward_url(site, record)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
        f"  <id>urn:uuid:{_uid(site, 'feed', ward.code, 0)}</id>",
        f"  <title>{esc(ward.name)} ({esc(ward.borough_name)}): you said, we did</title>",
        "  <subtitle>What residents raised with the ward panel and what was done about it."
        "</subtitle>",
        f"  <updated>{esc(from_iso(updated).isoformat())}</updated>",
        f"  <author><name>{esc(ward.name)} ward panel</name></author>",
        '  <link rel="self" type="application/atom+xml"'
        f' href="{esc(_ward_url(site, record, "feed.atom"))}"/>',
        f'  <link rel="alternate" type="text/html" href="{esc(page)}"/>',
        "  <generator>WardVoice</generator>",
    ]
    for o in entries:
        done = day_text(date.fromisoformat(o.action_date))
        content = f"You said: {o.you_said}\nWe did: {o.we_did}\nDone on {done}."
        lines += [
            "  <entry>",
            f"    <id>urn:uuid:{_uid(site, 'outcome', ward.code, o.id)}</id>",
            f"    <title>You said: {esc(o.you_said)}</title>",
            f"    <updated>{esc(from_iso(o.created_at).isoformat())}</updated>",
            f'    <link rel="alternate" type="text/html" href="{esc(page)}#wedid-{o.id}"/>',
            f'    <summary type="text">We did: {esc(o.we_did)}</summary>',
            f'    <content type="text">{esc(content)}</content>',
            "  </entry>",
        ]
    lines.append("</feed>")
    return "\n".join(lines) + "\n"


# --- iCalendar (RFC 5545) ----------------------------------------------------------------


def _ical_text(value: str) -> str:
    """Escape a TEXT value: backslash, semicolon, comma and line breaks."""
    text = clean(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (never inside a UTF-8
    character)."""
    out: list[str] = []
    current, size, limit = [], 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [], 0, 74  # continuation lines start with a space
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def icalendar(site: Site, record: WardRecord) -> str:
    """The ward's meetings (the past year's and every coming one) as an iCalendar file.
    Cancelled meetings stay in, as STATUS:CANCELLED, so subscribed calendars drop them."""
    ward = record.ward
    stamp = _utc(from_iso(site.now))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ical_text(f'{ward.name} ward panel meetings')}",
        "X-WR-CALDESC:"
        + _ical_text(f"Meetings of the {ward.name} ward panel, {ward.borough_name}"),
    ]
    for m in record.meetings:
        start = from_iso(m.starts_at)
        agenda = record.agenda.get(m.id, [])
        description = f"{_meeting_description(m, agenda)} {END_NOTE}"
        cancelled = m.cancelled_at is not None
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid(site, 'meeting', ward.code, m.id)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_utc(start)}",
            f"DTEND:{_utc(start + MEETING_LENGTH)}",
            f"SUMMARY:{_ical_text(_meeting_title(record))}",
            f"LOCATION:{_ical_text(m.venue)}",
            f"DESCRIPTION:{_ical_text(description)}",
            f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
            f"SEQUENCE:{1 if cancelled else 0}",
            "TRANSP:OPAQUE",
        ]
        if m.open_to_public and m.online_link and not any(c in m.online_link for c in "\r\n"):
            lines.append(f"URL:{clean(m.online_link)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
