"""The panel's side of agenda votes: set one up, open it, close it early, see its chart.

    /newvote + one choice per line ─▶ draft preview (what voters will see) + settings
        [who votes] [picks −/+] [agenda places −/+] [close earlier/later] [meeting]
        ─▶ [Open the vote] ─▶ the audience is told; the preview says how many
        ─▶ [Discard]
    /newvote alone, or Panel ─▶ Votes ─▶ the ward's votes:
        draft ─▶ [Draft #N]   open ─▶ [Close #N now] ─▶ [Yes, close it now] ─▶ results
        closed ─▶ [📊 #N] ─▶ chart image

Each press names a vote; `bot.domain.votes` checks the presser's role on that vote's
ward every time (a forged or old button is refused and audited), and checks every
setting's value whatever the button said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import charts
from bot.clock import to_iso
from bot.domain import votes as vote_domain
from bot.domain.errors import RuleError
from bot.i18n import N_, label, t
from bot.meeting_text import short_when
from bot.render import Html, join
from bot.vote_text import audience_text, screen
from handlers import callback_data as cb
from handlers.common import (
    Context,
    answer,
    edit_quietly,
    refuse,
    reply,
    resident_of,
    services,
)
from handlers.working_ward import working_ward
from storage.votes import Vote

T = TypeVar("T")

AUDIENCE_LABELS = {
    "ward_youth": N_("Ward youth panel"),
    "borough_youth": N_("Borough youth panel"),
    "residents": N_("All residents"),
}


def _text_after_command(update: Update) -> str:
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    parts = text.split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def _button(text: str, fmt: cb.CallbackFormat, **values: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=fmt.build(**values))


async def _on_vote(
    update: Update,
    context: Context,
    fmt: cb.CallbackFormat,
    action: Callable[..., Awaitable[T]],
    *passed: str,
    **extra: object,
) -> tuple[str, T] | None:
    """A press on a vote's button: parse it, run the domain `action` for this user on the
    vote it names (which checks the role on the vote's ward), or answer its refusal.
    `passed` names more groups of the button's data to hand over as they are."""
    query = update.callback_query
    assert query is not None
    parsed = fmt.parse(query.data)
    assert parsed is not None
    svc = services(context)
    resident = await resident_of(update, context)
    try:
        done = await action(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            vote_id=int(parsed["id"]),
            **{name: parsed[name] for name in passed},
            **extra,
        )
    except RuleError as err:
        await refuse(update, resident.language, err)
        return None
    return resident.language, done


# --- the draft preview ----------------------------------------------------------------------


def _draft_text(context: Context, language: str, draft: vote_domain.Draft) -> Html:
    svc = services(context)
    vote = draft.vote
    tz = svc.settings.tz
    ward = svc.wards.ward(vote.ward_code)
    ward_name = ward.name if ward else vote.ward_code
    borough_name = ward.borough_name if ward else vote.borough_code
    closes_at = to_iso(draft.closes_at)
    preview = screen(
        language,
        vote,
        ward_name=ward_name,
        meeting_starts_at=draft.meeting.starts_at,
        tz=tz,
        now=to_iso(svc.clock.now()),
        closes_at=closes_at,
    )
    return join(
        [
            t(language, "<b>Draft vote #{id}</b>: this is what voters will see.", id=vote.id),
            preview,
            join(
                [
                    t(language, "<b>Settings</b>"),
                    t(
                        language,
                        "Who votes: {audience} ({count} people now).",
                        audience=audience_text(language, vote, ward_name, borough_name),
                        count=draft.electorate,
                    ),
                    t(
                        language,
                        "Each person picks up to {picks}; the top {places} go on the agenda.",
                        picks=vote.picks,
                        places=vote.places,
                    ),
                    t(
                        language,
                        "Meeting: {meeting}. Voting ends {closes} ({hours} hours before).",
                        meeting=short_when(language, draft.meeting.starts_at, tz),
                        closes=short_when(language, closes_at, tz),
                        hours=vote.close_hours,
                    ),
                    t(language, "Change anything with the buttons, then open the vote."),
                ]
            ),
        ],
        "\n\n",
    )


def _draft_buttons(language: str, draft: vote_domain.Draft) -> InlineKeyboardMarkup:
    vote = draft.vote
    vid = str(vote.id)
    count = len(vote.items)

    def setting(text: str, name: str, value: int | str) -> InlineKeyboardButton:
        return _button(text, cb.VOTE_SET, id=vid, setting=name, value=str(value))

    rows: list[list[InlineKeyboardButton]] = [
        [
            setting(
                ("✓ " if vote.audience == audience else "") + label(language, text),
                "audience",
                audience,
            )
            for audience, text in AUDIENCE_LABELS.items()
        ]
    ]
    pairs = [
        (
            setting(label(language, "Fewer picks"), "picks", vote.picks - 1)
            if vote.picks > 1
            else None,
            setting(label(language, "More picks"), "picks", vote.picks + 1)
            if vote.picks < count
            else None,
        ),
        (
            setting(label(language, "Fewer on agenda"), "places", vote.places - 1)
            if vote.places > 1
            else None,
            setting(label(language, "More on agenda"), "places", vote.places + 1)
            if vote.places < count - 1
            else None,
        ),
    ]
    earlier = [h for h in draft.close_options if h > vote.close_hours]
    later = [h for h in draft.close_options if h < vote.close_hours]
    pairs.append(
        (
            setting(label(language, "Close earlier"), "close", min(earlier)) if earlier else None,
            setting(label(language, "Close later"), "close", max(later)) if later else None,
        )
    )
    ids = [m.id for m in draft.meetings]
    at = ids.index(vote.meeting_id) if vote.meeting_id in ids else -1
    pairs.append(
        (
            setting(label(language, "Earlier meeting"), "meeting", ids[at - 1]) if at > 0 else None,
            setting(label(language, "Later meeting"), "meeting", ids[at + 1])
            if 0 <= at < len(ids) - 1
            else None,
        )
    )
    rows += [[b for b in pair if b is not None] for pair in pairs if any(pair)]
    rows.append(
        [
            _button(label(language, "🗳 Open the vote"), cb.VOTE_OPEN, id=vid),
            _button(label(language, "Discard"), cb.VOTE_DISCARD, id=vid),
        ]
    )
    return InlineKeyboardMarkup(rows)


async def new_vote_command(update: Update, context: Context) -> None:
    """/newvote with choices: a draft to check; alone: the ward's votes and how to start one."""
    svc = services(context)
    resident = await resident_of(update, context)
    language = resident.language
    ward_code = await working_ward(context, resident)
    text = _text_after_command(update)
    try:
        if not text.strip():
            await _show_list(update, context, language, ward_code)
            return
        draft = await vote_domain.new_draft(
            svc.db,
            svc.clock,
            svc.wards,
            svc.settings.admin_ids,
            user_id=resident.user_id,
            ward_code=ward_code,
            text=text,
        )
    except RuleError as err:
        await refuse(update, language, err)
        return
    await reply(update, _draft_text(context, language, draft), _draft_buttons(language, draft))


async def setting_pressed(update: Update, context: Context) -> None:
    found = await _on_vote(update, context, cb.VOTE_SET, vote_domain.change, "setting", "value")
    if found is None:
        return
    language, draft = found
    await answer(update)
    await edit_quietly(
        update, _draft_text(context, language, draft), _draft_buttons(language, draft)
    )


async def draft_pressed(update: Update, context: Context) -> None:
    """The ward's list ─▶ a draft: its preview again, to finish setting it up."""
    found = await _on_vote(update, context, cb.VOTE_DRAFT, vote_domain.show_draft)
    if found is None:
        return
    language, draft = found
    await answer(update)
    await reply(update, _draft_text(context, language, draft), _draft_buttons(language, draft))


async def open_pressed(update: Update, context: Context) -> None:
    svc = services(context)
    tz = svc.settings.tz
    found = await _on_vote(update, context, cb.VOTE_OPEN, vote_domain.open_vote, tz=tz)
    if found is None:
        return
    language, opened = found
    svc.outbox_bell.ring()
    await answer(update, label(language, "The vote is open."))
    vote = opened.vote
    assert vote.closes_at is not None
    await edit_quietly(
        update,
        join(
            [
                t(
                    language,
                    "✅ Vote #{id} is open. {count} people were told. Voting ends {when}.",
                    id=vote.id,
                    count=opened.told,
                    when=short_when(language, vote.closes_at, tz),
                ),
                t(language, "Results come to you when it closes. /newvote shows how it's going."),
            ]
        ),
    )


async def discard_pressed(update: Update, context: Context) -> None:
    found = await _on_vote(update, context, cb.VOTE_DISCARD, vote_domain.discard)
    if found is None:
        return
    language, vote = found
    await answer(update, label(language, "Discarded."))
    await edit_quietly(
        update, t(language, "Draft vote #{id} discarded; nobody was told.", id=vote.id)
    )


# --- the ward's votes ------------------------------------------------------------------------


def _vote_line(language: str, vote: Vote, ballots: int, tz: tzinfo) -> Html:
    if vote.state == "draft":
        return t(language, "#{id} draft · {count} choices", id=vote.id, count=len(vote.items))
    if vote.state == "open":
        assert vote.closes_at is not None
        return t(
            language,
            "#{id} open · {voters} voted so far · ends {when}",
            id=vote.id,
            voters=ballots,
            when=short_when(language, vote.closes_at, tz),
        )
    assert vote.closed_at is not None
    return t(
        language,
        "#{id} closed {when} · {voters} of {eligible} voted",
        id=vote.id,
        when=short_when(language, vote.closed_at, tz),
        voters=vote.voters or 0,
        eligible=vote.eligible or 0,
    )


async def _show_list(update: Update, context: Context, language: str, ward_code: str) -> None:
    svc = services(context)
    listed = await vote_domain.ward_votes(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        user_id=(await resident_of(update, context)).user_id,
        ward_code=ward_code,
    )
    tz = svc.settings.tz
    lines: list[Html | str] = [
        t(language, "<b>Votes for {ward}</b>", ward=svc.wards.name_of(ward_code))
    ]
    lines += [_vote_line(language, v, n, tz) for v, n in listed] or [t(language, "No votes yet.")]
    lines += ["", t(language, vote_domain.USAGE)]
    rows: list[list[InlineKeyboardButton]] = []
    for vote, _ in listed:
        vid = str(vote.id)
        if vote.state == "draft":
            rows.append([_button(label(language, "Draft #{id}", id=vid), cb.VOTE_DRAFT, id=vid)])
        elif vote.state == "open":
            rows.append(
                [_button(label(language, "Close #{id} now", id=vid), cb.VOTE_CLOSE_ASK, id=vid)]
            )
        else:
            rows.append([_button(f"📊 #{vid}", cb.VOTE_CHART, id=vid)])
    await reply(update, join(lines), InlineKeyboardMarkup(rows) if rows else None)


async def staff_votes_pressed(update: Update, context: Context) -> None:
    """Panel ─▶ Votes: the ward in the button is checked again, not trusted."""
    query = update.callback_query
    assert query is not None
    parsed = cb.STAFF_VOTES.parse(query.data)
    assert parsed is not None
    resident = await resident_of(update, context)
    try:
        await _show_list(update, context, resident.language, parsed["code"])
    except RuleError as err:
        await refuse(update, resident.language, err)
        return
    await answer(update)


# --- closing early and the chart ----------------------------------------------------------------


async def close_asked(update: Update, context: Context) -> None:
    """A closed vote cannot be reopened: ask once more before closing it early."""
    found = await _on_vote(update, context, cb.VOTE_CLOSE_ASK, vote_domain.panel_vote)
    if found is None:
        return
    language, vote = found
    await answer(update)
    await reply(
        update,
        t(
            language,
            "Close vote #{id} now? Nobody can vote after that, and the results go out "
            "straight away.",
            id=vote.id,
        ),
        InlineKeyboardMarkup(
            [[_button(label(language, "Yes, close it now"), cb.VOTE_CLOSE, id=str(vote.id))]]
        ),
    )


async def close_pressed(update: Update, context: Context) -> None:
    found = await _on_vote(update, context, cb.VOTE_CLOSE, vote_domain.close_early)
    if found is None:
        return
    language, vote = found
    svc = services(context)
    await vote_domain.publish(svc.db, svc.clock, svc.wards, vote.id, svc.settings.tz)
    svc.outbox_bell.ring()
    await answer(update, label(language, "Closed."))
    await edit_quietly(
        update,
        t(
            language,
            "Vote #{id} is closed. The results are on their way to the panel and the voters.",
            id=vote.id,
        ),
    )


async def chart_pressed(update: Update, context: Context) -> None:
    """📊 on the results: a bar chart of the counts, drawn off the event loop."""
    found = await _on_vote(update, context, cb.VOTE_CHART, vote_domain.results_for_panel)
    if found is None:
        return
    language, vote = found
    svc = services(context)
    await answer(update)
    ward_name = svc.wards.name_of(vote.ward_code)
    png = await asyncio.to_thread(
        charts.vote_results_png,
        [i.title for i in vote.items],
        [i.votes or 0 for i in vote.items],
        [i.won for i in vote.items],
        title=label(language, "Vote #{id}: {ward}", id=vote.id, ward=ward_name),
        x_label=label(language, "Votes"),
        legend_won=label(language, "On the agenda"),
        legend_other=label(language, "Not this time"),
    )
    chat = update.effective_chat
    assert chat is not None
    eligible = vote.eligible or 0
    await chat.send_photo(
        png,
        caption=t(
            language,
            "Vote #{id} results for {ward}: {voters} of {eligible} voted ({share}%).",
            id=vote.id,
            ward=ward_name,
            voters=vote.voters or 0,
            eligible=eligible,
            share=round(100 * (vote.voters or 0) / eligible) if eligible else 0,
        ),
    )
