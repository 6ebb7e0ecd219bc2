"""Voting on the panel's agenda: /vote, and the number buttons on a vote.

    notice "🗳 Your vote…" (the ballot itself) ─▶ [1] [2] [3] ─▶ ✅ ticked, changeable
    /vote ─▶ each open vote you may take part in, with your picks ticked
          ─▶ none: how to join a youth panel, and the ward's latest results

Whether the person may vote, and whether the vote is still open, is checked in the
ballot's own database transaction (`storage.votes.cast`), not from the button.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.clock import to_iso
from bot.domain import votes as vote_domain
from bot.i18n import N_, label, t
from bot.render import Html, join
from bot.vote_text import Buttons, buttons, screen
from handlers.callback_data import VOTE_PICK
from handlers.common import Context, answer, edit_quietly, reply, resident_of, services
from storage import votes as vote_store
from storage.votes import Vote

MOST_SHOWN = 5

REFUSALS = {
    "not_eligible": N_("This vote isn't open to you."),
    "too_late": N_(
        "You chose this ward after the vote started, so this one isn't yours. "
        "You can vote in the next one."
    ),
    "closed": N_("Voting has ended."),
    "unknown": N_("This button is no longer valid."),
}


def keyboard(rows: Buttons) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(**b) for b in row] for row in rows])


async def _screen(context: Context, language: str, vote: Vote, picks: frozenset[int]) -> Html:
    svc = services(context)
    meeting = await vote_domain.meeting_of(svc.db, vote)
    return screen(
        language,
        vote,
        ward_name=svc.wards.name_of(vote.ward_code),
        meeting_starts_at=meeting.starts_at,
        tz=svc.settings.tz,
        picks=picks,
        now=to_iso(svc.clock.now()),
    )


async def vote_command(update: Update, context: Context) -> None:
    """/vote: every open vote this person may take part in, as a ballot."""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    found = await vote_domain.open_for(svc.db, svc.clock, resident.user_id)
    for vote, picks in found[:MOST_SHOWN]:
        await reply(
            update, await _screen(context, language, vote, picks), keyboard(buttons(vote, picks))
        )
    if found:
        return
    lines: list[Html | str] = [
        t(language, "There's no vote open for you right now."),
        t(
            language,
            "Votes are mostly for youth panels. Got a code from your school or youth club? "
            "Send /join and the code.",
        ),
    ]
    if resident.ward_code:
        since = to_iso(svc.clock.now() - timedelta(days=30))
        for vote in await vote_store.recent_results(svc.db, resident.ward_code, since):
            chosen = [i.title for i in vote.items if i.won]
            if chosen:
                lines += [
                    "",
                    t(
                        language,
                        "Latest vote in {ward}: on the agenda now: {items}.",
                        ward=svc.wards.name_of(vote.ward_code),
                        items=", ".join(chosen),
                    ),
                ]
    await reply(update, join(lines))


async def pick_pressed(update: Update, context: Context) -> None:
    """A number on a ballot: pick it or drop it, as the button says."""
    query = update.callback_query
    assert query is not None
    parsed = VOTE_PICK.parse(query.data)
    assert parsed is not None
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    vote_id = int(parsed["id"])
    result = await vote_domain.cast(
        svc.db,
        svc.clock,
        user_id=resident.user_id,
        vote_id=vote_id,
        position=int(parsed["position"]),
        chosen=parsed["chosen"] == "1",
    )
    if result.status in REFUSALS:
        await answer(update, label(language, REFUSALS[result.status]), alert=True)
        if result.status == "closed":
            await _redraw(update, context, language, vote_id, result.picks)
        return
    if result.status == "too_many":
        vote = await vote_store.get(svc.db, vote_id)
        assert vote is not None
        await answer(
            update,
            label(
                language,
                "You can pick up to {count}. Tap one of yours to remove it first.",
                count=vote.picks,
            ),
            alert=True,
        )
        return
    if result.status == "unchanged":
        await answer(update, label(language, "Already saved."))
        return
    if result.picks:
        numbers = ", ".join(str(p) for p in sorted(result.picks))
        await answer(update, label(language, "Saved: you picked {numbers}.", numbers=numbers))
    else:
        await answer(update, label(language, "Saved: you have no picks now."))
    await _redraw(update, context, language, vote_id, result.picks)


async def _redraw(
    update: Update, context: Context, language: str, vote_id: int, picks: frozenset[int]
) -> None:
    """Show the ballot with this person's picks (a closed vote keeps no buttons)."""
    svc = services(context)
    vote = await vote_store.get(svc.db, vote_id)
    if vote is None:
        return
    text = await _screen(context, language, vote, picks)
    is_open = vote.is_open(to_iso(svc.clock.now()))
    await edit_quietly(update, text, keyboard(buttons(vote, picks)) if is_open else None)
