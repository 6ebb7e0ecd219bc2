"""Concern review by the ward's panel and team: the queue, answers, links, moderation and
"you said, we did" entries. Authorisation is the caller's first step (`roles.authorise`);
these functions apply the rules and return who must be told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock, to_iso
from bot.domain import concerns as concern_domain
from bot.domain.categories import CATEGORIES
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import concerns as concern_store
from storage import meetings as meeting_store
from storage import outcomes as outcome_store
from storage import priorities as priority_store
from storage import residents as resident_store
from storage.concerns import CategoryCount, Concern
from storage.db import Database
from storage.outcomes import Outcome

# Before a ward's first recorded meeting, "since the last meeting" is a usual cycle.
DEFAULT_CYCLE = timedelta(weeks=4)
TEMPLATE_MAX = 1000


@dataclass(frozen=True)
class Queue:
    counts: list[CategoryCount]
    since: str  # UTC ISO: the last meeting, or four weeks ago
    since_meeting: bool


async def queue(db: Database, clock: Clock, ward_code: str) -> Queue:
    """New concerns by category, with people counted (me too included) and how many arrived
    since the panel last met."""
    now = to_iso(clock.now())
    last = await meeting_store.last_held(db, ward_code, now)
    since = last or to_iso(clock.now() - DEFAULT_CYCLE)
    counts = await concern_store.new_by_category(db, ward_code, since)
    return Queue(counts, since, last is not None)


async def concern_in_ward(db: Database, concern_id: int) -> Concern:
    concern = await concern_store.by_id(db, concern_id)
    if concern is None:
        raise RuleError(N_("There is no such concern."))
    return concern


async def concern_by_ref(db: Database, ref: str) -> Concern:
    normalised = concern_domain.normalise_ref(ref)
    concern = await concern_store.by_ref(db, normalised) if normalised else None
    if concern is None:
        raise RuleError(N_("There is no concern {ref}."), ref=ref)
    return concern


async def respond(db: Database, clock: Clock, concern: Concern, text: str, *, by: str) -> list[int]:
    """Answer a concern; a new concern becomes "reviewed". Returns who must be told."""
    await concern_domain.respond(db, clock, concern.id, text, by=by)
    if concern.status == "received":
        await concern_domain.change_status(db, clock, concern.id, "reviewed", by=by)
    return await concern_store.followers(db, concern.id)


async def set_status(
    db: Database, clock: Clock, concern: Concern, status: str, *, by: str
) -> list[int]:
    await concern_domain.change_status(db, clock, concern.id, status, by=by)
    return await concern_store.followers(db, concern.id)


async def link_to_priority(
    db: Database, clock: Clock, concern: Concern, priority_id: int, *, by: str
) -> list[int]:
    """Taken up as a priority of the same ward."""
    priority = await priority_store.get(db, priority_id)
    if (
        priority is None
        or priority.retired_at is not None
        or priority.ward_code != concern.ward_code
    ):
        raise RuleError(N_("That priority is not an active priority of this ward."))
    await concern_store.link_priority(db, concern.id, priority.id, to_iso(clock.now()))
    if concern_domain.status_change_allowed(concern.status, "priority"):
        await concern_domain.change_status(db, clock, concern.id, "priority", by=by)
    return await concern_store.followers(db, concern.id)


async def hide_text(db: Database, clock: Clock, concern: Concern) -> None:
    """Moderation: the text is no longer shown to anyone; the concern stays counted."""
    await concern_store.hide(db, concern.id, to_iso(clock.now()))


async def block_raiser(db: Database, clock: Clock, concern: Concern) -> int:
    """Moderation: stop whoever raised this concern from raising more."""
    if concern.raised_by is None:
        raise RuleError(N_("Nobody can be blocked for this concern."))
    await resident_store.block(db, concern.raised_by, to_iso(clock.now()))
    return concern.raised_by


async def template_for(db: Database, concern: Concern) -> str | None:
    return await concern_store.template(db, concern.ward_code, concern.category, concern.status)


async def save_template(
    db: Database, clock: Clock, ward_code: str, category: str, status: str, text: str, *, by: str
) -> None:
    if category not in CATEGORIES:
        raise RuleError(N_("Unknown category {category}."), category=category)
    if status not in concern_domain.STATUS_LABELS:
        raise RuleError(N_("Unknown status {status}."), status=status)
    text = text.strip()
    if not 3 <= len(text) <= TEMPLATE_MAX:
        raise RuleError(N_("A template must be 3 to {max} characters long."), max=TEMPLATE_MAX)
    await concern_store.set_template(
        db, ward_code, category, status, text, by=by, now=to_iso(clock.now())
    )


# Record ids are ASCII digits, at most 9 (`\d` would take "²", and a longer number
# overflows SQLite's integer).
_LINK = re.compile(r"^(#[0-9]{1,9}|WV-?[2-9A-HJKMNP-Z]{5}),?$", re.IGNORECASE)


@dataclass(frozen=True)
class WeDid:
    outcome: Outcome
    concerns: list[Concern]
    told: list[int]  # residents to tell at once: raisers and supporters of linked concerns


def parse_we_did(text: str) -> tuple[int | None, list[str], str]:
    """`#3 WV-7K2FQ What was done` → (3, ["WV-7K2FQ"], "What was done")."""
    priority_id: int | None = None
    refs: list[str] = []
    words = text.split()
    while words and _LINK.match(words[0]):
        token = words.pop(0).rstrip(",")
        if token.startswith("#"):
            priority_id = int(token[1:])
        else:
            refs.append(token)
    return priority_id, refs, " ".join(words)


async def record_we_did(db: Database, clock: Clock, ward_code: str, text: str, *, by: str) -> WeDid:
    """A "you said, we did" entry for a ward, linked to a priority and/or concerns of it."""
    priority_id, refs, we_did = parse_we_did(text)
    if len(we_did) < 3:
        raise RuleError(N_("Say what was done, after any #priority and WV- references."))
    if priority_id is None and not refs:
        raise RuleError(N_("Link the entry to a priority (#ID) or to concerns (WV-…)."))
    you_said: list[str] = []
    if priority_id is not None:
        priority = await priority_store.get(db, priority_id)
        if priority is None or priority.ward_code != ward_code or priority.retired_at is not None:
            raise RuleError(N_("That priority is not an active priority of this ward."))
        you_said.append(priority.title)
    concerns = [await concern_by_ref(db, ref) for ref in refs]
    if any(c.ward_code != ward_code for c in concerns):
        raise RuleError(N_("Those concerns are not all in this ward."))
    for concern in concerns:
        if priority_id is None:
            you_said.append(CATEGORIES[concern.category])
    outcome = await outcome_store.add(
        db,
        ward_code,
        priority_id,
        "; ".join(dict.fromkeys(you_said)),
        we_did,
        clock.now().date().isoformat(),
        by=by,
        now=to_iso(clock.now()),
        concern_ids=[c.id for c in concerns],
    )
    told: list[int] = []
    for concern in concerns:
        told += [u for u in await concern_store.followers(db, concern.id) if u not in told]
    return WeDid(outcome, concerns, told)
