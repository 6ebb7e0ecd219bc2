"""How an agenda vote reads: the vote screen, its number buttons, and the results.

Written for young people on a phone: short lines, plain words, and a screen that fits
without scrolling for five items (item titles are at most 32 characters, explanations
at most 50; the buttons are numbers, five to a row). Shared by the handlers, the
outbox notice that opens a vote, and the scheduled results.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import tzinfo

from bot.i18n import t, tn
from bot.meeting_text import short_when
from bot.render import Html, join
from handlers.callback_data import VOTE_PICK
from storage.votes import Vote, VoteItem

BUTTONS_PER_ROW = 5
Buttons = list[list[dict[str, str]]]


def audience_text(language: str, vote: Vote, ward_name: str, borough_name: str) -> Html:
    if vote.audience == "ward_youth":
        return t(language, "the {ward} youth panel", ward=ward_name)
    if vote.audience == "borough_youth":
        return t(language, "the {borough} youth panel", borough=borough_name)
    return t(language, "everyone living in {ward} ward", ward=ward_name)


def _item_line(language: str, item: VoteItem, chosen: bool) -> Html:
    mark = "✅ " if chosen else ""
    if item.detail:
        return t(
            language,
            "{mark}<b>{number}</b> {title} — {detail}",
            mark=mark,
            number=item.position,
            title=item.title,
            detail=item.detail,
        )
    return t(
        language, "{mark}<b>{number}</b> {title}", mark=mark, number=item.position, title=item.title
    )


def _picked_line(language: str, vote: Vote, picks: Collection[int], now: str) -> Html:
    numbers = ", ".join(str(p) for p in sorted(picks))
    if vote.state != "draft" and not vote.is_open(now):
        if picks:
            return t(language, "Voting has ended. You picked {numbers}.", numbers=numbers)
        return t(language, "Voting has ended.")
    if not picks:
        return t(language, "Tap a number to vote.")
    if vote.picks == 1:
        return t(language, "You picked {numbers}. Tap another number to change.", numbers=numbers)
    return t(
        language,
        "You picked {numbers}. Tap a number to add or remove it.",
        numbers=numbers,
    )


def screen(
    language: str,
    vote: Vote,
    *,
    ward_name: str,
    meeting_starts_at: str,
    tz: tzinfo,
    picks: Collection[int] = (),
    now: str,
    closes_at: str | None = None,
) -> Html:
    """The vote as a voter sees it, with their own picks ticked (`closes_at` for a draft,
    whose closing moment is fixed only when it opens)."""
    closes = closes_at or vote.closes_at or meeting_starts_at
    how = (
        t(language, "Pick 1.")
        if vote.picks == 1
        else t(language, "Pick up to {count}.", count=vote.picks)
    )
    lines: list[Html | str] = [
        t(language, "🗳 <b>Vote: what should the {ward} panel talk about?</b>", ward=ward_name),
        t(
            language,
            "For the meeting on {meeting}. Voting ends {closes}.",
            meeting=short_when(language, meeting_starts_at, tz),
            closes=short_when(language, closes, tz),
        ),
        how,
        "",
        *(_item_line(language, item, item.position in picks) for item in vote.items),
        "",
        _picked_line(language, vote, picks, now),
    ]
    return join(lines)


def buttons(vote: Vote, picks: Collection[int] = ()) -> Buttons:
    """Number buttons, five to a row; each says what a press does (pick or drop)."""
    flat = [
        {
            "text": f"✅ {item.position}" if item.position in picks else str(item.position),
            "callback_data": VOTE_PICK.build(
                id=str(vote.id),
                position=str(item.position),
                chosen="0" if item.position in picks else "1",
            ),
        }
        for item in vote.items
    ]
    return [flat[i : i + BUTTONS_PER_ROW] for i in range(0, len(flat), BUTTONS_PER_ROW)]


def results(
    language: str,
    vote: Vote,
    *,
    ward_name: str,
    meeting_starts_at: str | None,
    tz: tzinfo,
    tied: bool,
) -> Html:
    """Counts per item, turnout, and what went on the agenda."""
    items = sorted(vote.items, key=lambda i: (-(i.votes or 0), i.position))
    lines: list[Html | str] = [
        t(language, "🗳 <b>Vote results: {ward} panel</b>", ward=ward_name),
        "",
    ]
    for item in items:
        count = tn(language, "{count} vote", "{count} votes", item.votes or 0)
        if item.won:
            lines.append(
                t(language, "✅ {title}: {count}, on the agenda", title=item.title, count=count)
            )
        else:
            lines.append(t(language, "▫️ {title}: {count}", title=item.title, count=count))
    eligible = vote.eligible or 0
    voters = vote.voters or 0
    share = round(100 * voters / eligible) if eligible else 0
    lines += [
        "",
        t(
            language,
            "Turnout: {voters} of {eligible} people who could vote ({share}%).",
            voters=voters,
            eligible=eligible,
            share=share,
        ),
    ]
    winners = [i for i in items if i.won]
    if not winners:
        lines.append(t(language, "Nobody voted, so nothing was added to the agenda."))
    elif meeting_starts_at is None:
        lines.append(
            t(
                language,
                "The meeting was cancelled. The panel will take these to its next one.",
            )
        )
    else:
        lines.append(
            t(
                language,
                "They go on the agenda of the meeting on {when}. See /meetings.",
                when=short_when(language, meeting_starts_at, tz),
            )
        )
    if tied:
        lines.append(t(language, "It was a tie, so every tied item goes on the agenda."))
    return join(lines)
