"""Concerns: the rules for raising one, following it, and moving it through its statuses.

Plain async functions (no Telegram): the conversation in `handlers/concerns.py` and the
staff tools to come call these, and tests call them directly.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from geopy.distance import great_circle

from bot.clock import Clock, to_iso
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import concerns as concern_store
from storage import drafts as draft_store
from storage.concerns import Concern, ConcernEvent, DailyLimitReached, StatusChangeRefused
from storage.db import Database
from storage.drafts import Draft

TEXT_MIN, TEXT_MAX = 10, 2000
NEARBY_M = 400.0  # "close by" when the resident gave a place
SIMILAR_SHOWN = 3
PAGE_SIZE = 5

# No 0/O, 1/I/L: easy to read out on the phone. 5 characters: 28 million references.
REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REF_LENGTH = 5
KEY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

STATUS_LABELS: dict[str, str] = {
    "received": N_("Received"),
    "reviewed": N_("Reviewed by the panel"),
    "priority": N_("Taken up as a priority"),
    "action": N_("Action taken"),
    "closed": N_("Closed"),
}

# Forward through the statuses, skipping any; a closed concern can be reopened for review.
_ORDER = {status: n for n, status in enumerate(concern_store.STATUSES)}


def status_change_allowed(current: str, wanted: str) -> bool:
    if current == "closed":
        return wanted == "reviewed"
    return wanted in _ORDER and _ORDER[wanted] > _ORDER[current]


def new_ref() -> str:
    return "WV-" + "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def new_draft_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(8))


def normalise_ref(text: str) -> str | None:
    """`wv 7k2fq`, `WV-7K2FQ`, `7k2fq` → `WV-7K2FQ`; None if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    if cleaned.startswith("WV"):
        cleaned = cleaned[2:]
    if len(cleaned) != REF_LENGTH or any(ch not in REF_ALPHABET for ch in cleaned):
        return None
    return "WV-" + cleaned


def check_text(text: str) -> str:
    """What happened, 10 to 2,000 characters, kept exactly as written (escaped when shown)."""
    stripped = text.strip()
    if len(stripped) < TEXT_MIN:
        raise RuleError(
            N_("Please tell us a little more: at least {min} characters."), min=TEXT_MIN
        )
    if len(stripped) > TEXT_MAX:
        raise RuleError(
            N_("That's {length} characters; please keep it under {max}."),
            length=len(stripped),
            max=TEXT_MAX,
        )
    return stripped


def _day_ago(clock: Clock) -> str:
    return to_iso(clock.now() - timedelta(days=1))


async def can_raise_today(db: Database, clock: Clock, user_id: int, daily_limit: int) -> bool:
    return await concern_store.count_since(db, user_id, _day_ago(clock)) < daily_limit


async def start_draft(db: Database, clock: Clock, user_id: int, step: str) -> Draft:
    return await draft_store.start(db, user_id, new_draft_key(), step, to_iso(clock.now()))


async def file_concern(
    db: Database, clock: Clock, draft: Draft, daily_limit: int
) -> tuple[Concern, bool]:
    """File the draft; (concern, False) if this draft was already filed (a double tap)."""
    if draft.category is None or draft.text is None or draft.ward_code is None:
        raise RuleError(N_("This concern is not complete yet."))
    try:
        return await concern_store.file(
            db,
            draft_key=draft.draft_key,
            user_id=draft.user_id,
            ward_code=draft.ward_code,
            category=draft.category,
            text=draft.text,
            lat=draft.lat,
            lon=draft.lon,
            photo_file_id=draft.photo_file_id,
            now=to_iso(clock.now()),
            day_ago=_day_ago(clock),
            daily_limit=daily_limit,
            make_ref=new_ref,
        )
    except DailyLimitReached as err:
        raise daily_limit_error(err.limit) from err


def daily_limit_error(limit: int) -> RuleError:
    return RuleError(
        N_(
            "You have raised {limit} concerns in the last 24 hours, the most we take in a day. "
            "Please try again tomorrow, or add your voice to an existing concern."
        ),
        limit=limit,
    )


def _box(lat: float, lon: float, metres: float) -> tuple[float, float, float, float]:
    dlat = metres / 111_320.0
    dlon = metres / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    return (lat - dlat, lon - dlon, lat + dlat, lon + dlon)


async def similar_open(db: Database, draft: Draft) -> list[Concern]:
    """Open concerns of the same category close by: within 400 m of the place given, or in
    the same ward when no place was given. The resident's own concerns are left out."""
    if draft.category is None or draft.ward_code is None:
        return []
    if draft.lat is not None and draft.lon is not None:
        found = await concern_store.open_nearby(
            db,
            draft.category,
            ward_code=draft.ward_code,
            box=_box(draft.lat, draft.lon, NEARBY_M),
            limit=50,
        )
        here = (draft.lat, draft.lon)
        found = [
            c
            for c in found
            if c.lat is not None
            and c.lon is not None
            and great_circle(here, (c.lat, c.lon)).meters <= NEARBY_M
        ]
    else:
        found = await concern_store.open_nearby(
            db, draft.category, ward_code=draft.ward_code, box=None, limit=50
        )
    found = [c for c in found if c.raised_by != draft.user_id]
    found.sort(key=lambda c: (-c.supporters, c.created_at))
    return found[:SIMILAR_SHOWN]


async def add_voice(db: Database, clock: Clock, user_id: int, ref: str) -> Concern:
    """ "Me too": the resident supports an open concern and gets its updates."""
    concern = await concern_store.by_ref(db, ref)
    if concern is None or concern.status == "closed":
        raise RuleError(N_("That concern is no longer open."))
    await concern_store.add_supporter(db, concern.id, user_id, to_iso(clock.now()))
    updated = await concern_store.by_id(db, concern.id)
    assert updated is not None
    return updated


async def change_status(
    db: Database, clock: Clock, concern_id: int, to_status: str, *, by: str
) -> str:
    """Move a concern on; every change is kept in its history with who and when."""
    if to_status not in STATUS_LABELS:
        raise RuleError(N_("Unknown status {status}."), status=to_status)
    try:
        return await concern_store.change_status(
            db,
            concern_id,
            to_status,
            by=by,
            now=to_iso(clock.now()),
            allowed=status_change_allowed,
        )
    except LookupError as err:
        raise RuleError(N_("There is no such concern.")) from err
    except StatusChangeRefused as err:
        raise RuleError(
            N_("A concern that is {current} cannot become {wanted}."),
            current=err.current,
            wanted=err.wanted,
        ) from err


async def respond(db: Database, clock: Clock, concern_id: int, text: str, *, by: str) -> None:
    text = text.strip()
    if not text:
        raise RuleError(N_("A response cannot be empty."))
    if await concern_store.by_id(db, concern_id) is None:
        raise RuleError(N_("There is no such concern."))
    await concern_store.add_response(
        db, concern_id, text[:TEXT_MAX], by=by, now=to_iso(clock.now())
    )


@dataclass(frozen=True)
class Page:
    concerns: list[Concern]
    number: int  # 0-based
    pages: int
    total: int


async def my_concerns(db: Database, user_id: int, page: int) -> Page:
    """One page of the resident's concerns; a page past the end shows the last one."""
    page = max(page, 0)
    concerns, total = await concern_store.for_resident(db, user_id, PAGE_SIZE, page * PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if page >= pages:
        page = pages - 1
        concerns, total = await concern_store.for_resident(db, user_id, PAGE_SIZE, page * PAGE_SIZE)
    return Page(concerns, page, pages, total)


async def history_for(
    db: Database, user_id: int, ref: str
) -> tuple[Concern, list[ConcernEvent]] | None:
    """A concern's whole history, only for a resident who raised or supports it."""
    concern = await concern_store.by_ref(db, ref)
    if concern is None or not await concern_store.is_followed_by(db, concern.id, user_id):
        return None
    return concern, await concern_store.events(db, concern.id)
