"""The site's HTML: an index of boroughs and wards, and one page per ward.

Semantic HTML that reads on a phone with no JavaScript: one `<h1>` per page, `<h2>` for
each section and `<h3>` inside them, a skip link to `<main>`, `<time datetime>` for every
date, tables with captions and header cells. Every value is escaped (`text.esc`); pages
are also well-formed XML (void elements closed), so tests can parse them strictly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.site.text import (
    AUDIENCES,
    category_label,
    day_text,
    esc,
    local,
    turnout_text,
    when_text,
)

if TYPE_CHECKING:
    from bot.site.export import PriorityRecord, Site, WardRecord
    from storage.meetings import AgendaItem, Meeting
    from storage.public import PublicOutcome, PublicVote

SITE_TITLE = "Ward panels: the public record"

STYLESHEET = """\
/* WardVoice public record: readable on a phone, high contrast, no JavaScript. */
:root {
  color-scheme: light;
  --text: #1b1b1b;
  --muted: #454545;
  --link: #0b4f9c;
  --visited: #5a2d82;
  --bg: #ffffff;
  --panel: #f2f4f7;
  --rule: #b1b4b6;
  --focus: #ffdd00;
  --good: #00642f;
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 1.0625rem;
  line-height: 1.55;
  overflow-wrap: break-word;
}
header, main, footer { max-width: 46rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 0.75rem; }
footer {
  margin-top: 2.5rem;
  padding-bottom: 2rem;
  border-top: 1px solid var(--rule);
  color: var(--muted);
  font-size: 0.95rem;
}
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0.75rem 0 0.5rem; }
h2 {
  font-size: 1.4rem;
  line-height: 1.25;
  margin: 2rem 0 0.75rem;
  padding-top: 0.5rem;
  border-top: 3px solid var(--text);
}
h3 { font-size: 1.15rem; line-height: 1.3; margin: 0 0 0.35rem; }
p { margin: 0 0 0.6rem; }
a { color: var(--link); text-decoration-thickness: 0.08em; text-underline-offset: 0.15em; }
a:visited { color: var(--visited); }
a:hover { text-decoration-thickness: 0.15em; }
a:focus-visible {
  outline: 3px solid var(--focus);
  outline-offset: 0;
  background: var(--focus);
  color: #0b0c0c;
  text-decoration: none;
  box-shadow: 0 3px 0 #0b0c0c;
}
.skip {
  position: absolute;
  left: -10000px;
  top: auto;
  width: 1px;
  height: 1px;
  overflow: hidden;
}
.skip:focus {
  position: static;
  width: auto;
  height: auto;
  display: inline-block;
  margin: 0.5rem 0;
  padding: 0.5rem 0.75rem;
}
.lede { font-size: 1.15rem; }
.meta { color: var(--muted); font-size: 0.95rem; }
.borough-nav ul, .wards { columns: 15rem; column-gap: 2rem; }
.wards li, .borough-nav li { break-inside: avoid; }
.cards, .log, .meetings { list-style: none; margin: 0; padding: 0; }
.cards > li, .meetings > li, .vote {
  background: var(--panel);
  border-left: 5px solid var(--link);
  padding: 0.75rem 1rem;
  margin: 0 0 0.9rem;
}
.log > li { border-bottom: 1px solid var(--rule); padding: 0.6rem 0; }
.cancelled { border-left-color: var(--muted); }
.cancelled h3 { text-decoration: line-through; }
.tag {
  display: inline-block;
  padding: 0 0.4rem;
  border: 1px solid currentColor;
  border-radius: 0.25rem;
  font-size: 0.9rem;
}
.won { color: var(--good); font-weight: 600; }
.empty { font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 0.75rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.25rem; }
th, td {
  text-align: left;
  vertical-align: top;
  padding: 0.4rem 0.5rem;
  border-bottom: 1px solid var(--rule);
}
th[scope="col"] { border-bottom: 2px solid var(--text); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
@media (max-width: 30rem) {
  body { font-size: 1rem; }
  h1 { font-size: 1.6rem; }
  th, td { padding: 0.35rem 0.3rem; }
}
@media print {
  .skip, section[aria-labelledby="data"] { display: none; }
  a { color: inherit; }
}
"""


def _page(
    *,
    title: str,
    description: str,
    root: str,
    breadcrumb: Iterable[tuple[str, str]],
    body: str,
    generated: str,
    head_extra: str = "",
) -> str:
    crumbs = " › ".join(f'<a href="{esc(href)}">{esc(text)}</a>' for href, text in breadcrumb)
    nav = f'<nav aria-label="Breadcrumb"><p>{crumbs}</p></nav>' if crumbs else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n'
        '<meta charset="utf-8" />\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"<title>{esc(title)}</title>\n"
        f'<meta name="description" content="{esc(description)}" />\n'
        f'<link rel="stylesheet" href="{root}style.css" />\n'
        '<link rel="icon" href="data:," />\n'
        f"{head_extra}"
        "</head>\n<body>\n"
        '<a class="skip" href="#main">Skip to main content</a>\n'
        f"<header>{nav}</header>\n"
        f'<main id="main" tabindex="-1">\n{body}</main>\n'
        "<footer>\n"
        f"<p>This public record was last updated on {generated}. It never shows who raised "
        "a concern, who voted or how; it shows what the ward panel and the neighbourhood "
        "team are working on and what they did.</p>\n"
        "<p>Ward boundaries: Source: Office for National Statistics licensed under the "
        "Open Government Licence v3.0.</p>\n"
        "</footer>\n</body>\n</html>\n"
    )


def _time(moment_iso: str, site: Site, *, with_hour: bool) -> str:
    moment = local(moment_iso, site.tz)
    if with_hour:
        return f'<time datetime="{moment.isoformat()}">{esc(when_text(moment))}</time>'
    return f'<time datetime="{moment.date().isoformat()}">{esc(day_text(moment.date()))}</time>'


def _day(iso_day: str) -> str:
    day = date.fromisoformat(iso_day)
    return f'<time datetime="{day.isoformat()}">{esc(day_text(day))}</time>'


def _generated(site: Site) -> str:
    return _time(site.now, site, with_hour=True)


# --- the index -----------------------------------------------------------------------------


def _ward_summary(site: Site, record: WardRecord) -> str:
    parts = []
    if record.priorities:
        n = len(record.priorities)
        parts.append(f"{n} {'priority' if n == 1 else 'priorities'}")
    upcoming = [m for m in record.upcoming(site.now) if m.cancelled_at is None]
    if upcoming:
        parts.append(f"next meeting {esc(day_text(local(upcoming[0].starts_at, site.tz).date()))}")
    return ", ".join(parts) if parts else "nothing recorded yet"


def index_page(site: Site) -> str:
    boroughs = site.boroughs()
    lines = [
        f"<h1>{esc(SITE_TITLE)}</h1>\n",
        '<p class="lede">What each ward panel is working on, what residents raised and what '
        "was done about it (“you said, we did”), when the panels meet, and the results of "
        "young people’s agenda votes.</p>\n",
        f"<p>{len(site.wards)} wards in {len(boroughs)} "
        f"{'borough' if len(boroughs) == 1 else 'boroughs'}. Every ward’s data is also "
        'available as <a href="wards.json">JSON</a>.</p>\n',
    ]
    if not site.wards:
        lines.append('<p class="empty">No wards have been imported yet.</p>\n')
    else:
        lines.append('<nav class="borough-nav" aria-labelledby="boroughs-heading">\n')
        lines.append('<h2 id="boroughs-heading">Boroughs</h2>\n<ul>\n')
        lines += [
            f'<li><a href="#b-{esc(code)}">{esc(name)}</a></li>\n' for code, name, _ in boroughs
        ]
        lines.append("</ul>\n</nav>\n")
    for code, name, records in boroughs:
        lines.append(f'<section aria-labelledby="b-{esc(code)}">\n')
        lines.append(f'<h2 id="b-{esc(code)}">{esc(name)}</h2>\n')
        lines.append(
            f'<p class="meta">{len(records)} {"ward" if len(records) == 1 else "wards"}</p>\n'
        )
        lines.append('<ul class="wards">\n')
        for record in records:
            lines.append(
                f'<li><a href="wards/{esc(record.code)}/index.html">{esc(record.ward.name)}</a>'
                f' <span class="meta">({_ward_summary(site, record)})</span></li>\n'
            )
        lines.append("</ul>\n</section>\n")
    return _page(
        title=SITE_TITLE,
        description='Ward panels\' priorities, "you said, we did", meetings and vote results.',
        root="",
        breadcrumb=(),
        body="".join(lines),
        generated=_generated(site),
    )


# --- a ward --------------------------------------------------------------------------------


def _priority(site: Site, item: PriorityRecord) -> str:
    p = item.priority
    lines = [
        "<li>\n",
        f"<h3>{esc(p.title)}</h3>\n",
        f'<p class="meta"><span class="tag">{esc(category_label(p.category))}</span> '
        f"A priority since {_time(p.set_at, site, with_hour=False)}</p>\n",
    ]
    if p.description:
        lines.append(f"<p>{esc(p.description)}</p>\n")
    if item.latest is not None:
        lines.append(
            f"<p><strong>Latest action</strong> ({_day(item.latest.action_date)}): "
            f"{esc(item.latest.we_did)}</p>\n"
        )
    else:
        lines.append('<p class="empty">No action recorded yet.</p>\n')
    lines.append("</li>\n")
    return "".join(lines)


def _outcome(outcome: PublicOutcome) -> str:
    about = (
        f' <span class="meta">(priority: {esc(outcome.priority_title)})</span>'
        if outcome.priority_title and outcome.priority_title != outcome.you_said
        else ""
    )
    return (
        f'<li id="wedid-{outcome.id}">\n'
        f'<p class="meta">{_day(outcome.action_date)}</p>\n'
        f"<p><strong>You said:</strong> {esc(outcome.you_said)}{about}</p>\n"
        f"<p><strong>We did:</strong> {esc(outcome.we_did)}</p>\n"
        "</li>\n"
    )


def _safe_link(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _meeting(site: Site, meeting: Meeting, agenda: list[AgendaItem]) -> str:
    cancelled = meeting.cancelled_at is not None
    lines = [
        '<li class="cancelled">\n' if cancelled else "<li>\n",
        f"<h3>{_time(meeting.starts_at, site, with_hour=True)}</h3>\n",
    ]
    if cancelled:
        lines.append("<p><strong>Cancelled.</strong></p>\n")
    lines.append(f"<p>Where: {esc(meeting.venue)}</p>\n")
    if not cancelled and meeting.open_to_public:
        lines.append("<p>Open to the public: all welcome.</p>\n")
        link = _safe_link(meeting.online_link)
        if link is not None:
            lines.append(f'<p>Online: <a href="{esc(link)}">{esc(link)}</a></p>\n')
    elif not cancelled:
        lines.append("<p>Closed meeting: for panel members only.</p>\n")
    if agenda:
        lines.append("<p>On the agenda:</p>\n<ul>\n")
        for item in agenda:
            voted = " (chosen in a vote)" if item.vote_id is not None else ""
            lines.append(f"<li>{esc(item.title)}{voted}</li>\n")
        lines.append("</ul>\n")
    lines.append("</li>\n")
    return "".join(lines)


def _vote(site: Site, vote: PublicVote, n: int) -> str:
    heading_id = f"vote-{vote.id}"
    lines = [
        f'<article class="vote" aria-labelledby="{heading_id}">\n',
        f'<h3 id="{heading_id}">Vote closed on '
        f"{_time(vote.closed_at, site, with_hour=False)}</h3>\n",
        f"<p>Who voted: {esc(AUDIENCES.get(vote.audience, vote.audience))}. Each person "
        f"picked up to {vote.picks}; the top {vote.places} went on the agenda.</p>\n",
        "<table>\n",
        f"<caption>Votes per item (vote {n})</caption>\n",
        '<thead><tr><th scope="col">Item</th><th scope="col" class="num">Votes</th>'
        '<th scope="col">On the agenda</th></tr></thead>\n<tbody>\n',
    ]
    for item in sorted(vote.items, key=lambda i: (-i.votes, i.position)):
        detail = f' <span class="meta">— {esc(item.detail)}</span>' if item.detail else ""
        won = '<span class="won">Yes</span>' if item.won else "No"
        lines.append(
            f'<tr><th scope="row">{esc(item.title)}{detail}</th>'
            f'<td class="num">{item.votes}</td><td>{won}</td></tr>\n'
        )
    lines.append("</tbody>\n</table>\n")
    lines.append(f"<p>Turnout: {esc(turnout_text(vote.voters, vote.eligible))}.</p>\n")
    if vote.agenda_meeting_starts_at:
        lines.append(
            "<p>The winners went on the agenda of the meeting on "
            f"{_time(vote.agenda_meeting_starts_at, site, with_hour=True)}.</p>\n"
        )
    lines.append("</article>\n")
    return "".join(lines)


def _section(anchor: str, heading: str, content: str) -> str:
    return (
        f'<section aria-labelledby="{anchor}">\n<h2 id="{anchor}">{esc(heading)}</h2>\n'
        f"{content}</section>\n"
    )


def ward_page(site: Site, record: WardRecord) -> str:
    ward = record.ward
    code = esc(ward.code)
    parts = [
        f"<h1>{esc(ward.name)}</h1>\n",
        f'<p class="lede">The ward panel of {esc(ward.name)}, in {esc(ward.borough_name)}: '
        "its priorities, what residents raised and what was done, its next meetings and "
        "the results of its agenda votes.</p>\n",
    ]
    if record.is_empty():
        parts.append(
            '<p class="empty">Nothing has been recorded for this ward yet: the panel has not '
            "set priorities, recorded an action or scheduled a meeting.</p>\n"
        )

    if record.priorities:
        content = (
            '<ol class="cards">\n'
            + "".join(_priority(site, p) for p in record.priorities)
            + "</ol>\n"
        )
    else:
        content = '<p class="empty">The panel has not set any priorities yet.</p>\n'
    parts.append(_section("priorities", "Current priorities", content))

    if record.outcomes:
        content = (
            '<ol class="log" reversed="reversed">\n'
            + "".join(_outcome(o) for o in record.outcomes)
            + "</ol>\n"
        )
    else:
        content = '<p class="empty">No actions have been recorded yet.</p>\n'
    parts.append(_section("you-said-we-did", "You said, we did", content))

    upcoming = record.upcoming(site.now)
    if upcoming:
        content = (
            '<ul class="meetings">\n'
            + "".join(_meeting(site, m, record.agenda.get(m.id, [])) for m in upcoming)
            + "</ul>\n"
        )
    else:
        content = '<p class="empty">No meetings are scheduled.</p>\n'
    parts.append(_section("meetings", "Next meetings", content))

    if record.votes:
        content = "".join(_vote(site, v, n) for n, v in enumerate(record.votes, start=1))
    else:
        content = '<p class="empty">No agenda votes have closed yet.</p>\n'
    parts.append(_section("votes", "Agenda vote results", content))

    if record.concerns:
        rows = "".join(
            f'<tr><th scope="row">{esc(category_label(cat))}</th><td class="num">{n}</td></tr>\n'
            for cat, n in sorted(record.concerns.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        content = (
            "<p>How many concerns residents raised through WardVoice in the last 12 months, "
            "by kind. Who raised them and what they wrote stay private.</p>\n"
            "<table>\n<caption>Concerns by kind, last 12 months</caption>\n"
            '<thead><tr><th scope="col">Kind</th><th scope="col" class="num">Concerns</th>'
            f"</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>\n"
        )
    else:
        content = '<p class="empty">No concerns were raised in the last 12 months.</p>\n'
    parts.append(_section("concerns", "Concerns raised", content))

    content = (
        '<ul class="data-links">\n'
        f'<li><a href="{code}.json">All of this page as JSON</a> (priorities and events in '
        'the police.uk neighbourhood API’s format, also as <a href="priorities.json">'
        'priorities.json</a> and <a href="events.json">events.json</a>)</li>\n'
        '<li><a href="feed.atom">“You said, we did” as an Atom feed</a></li>\n'
        '<li><a href="meetings.ics">Meetings as a calendar (iCalendar)</a></li>\n'
        "</ul>\n"
    )
    parts.append(_section("data", "Open data", content))

    head = (
        f'<link rel="alternate" type="application/atom+xml" title="{esc(ward.name)}: you said, '
        'we did" href="feed.atom" />\n'
        f'<link rel="alternate" type="application/json" href="{code}.json" />\n'
    )
    return _page(
        title=f"{ward.name}, {ward.borough_name}: ward panel public record",
        description=f"The {ward.name} ward panel's priorities, actions, meetings and votes.",
        root="../../",
        breadcrumb=(
            ("../../index.html", "All wards"),
            (f"../../index.html#b-{ward.borough_code}", ward.borough_name),
        ),
        body="".join(parts),
        generated=_generated(site),
        head_extra=head,
    )
