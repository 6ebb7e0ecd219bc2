"""A ward's priorities: the rules (3 to 5 active, valid text and category) and the views.

Used by the command line now and by the panel's own tools later; every rule lives here
so both get the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.clock import Clock, to_iso
from bot.domain.categories import CATEGORIES
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import outcomes as outcome_store
from storage import priorities as priority_store
from storage.db import Database
from storage.outcomes import Outcome
from storage.priorities import Priority, PriorityCountError, PriorityNotFound

MIN_ACTIVE = 3
MAX_ACTIVE = 5
TITLE_MIN, TITLE_MAX = 3, 120
DESCRIPTION_MAX = 500
ACTION_MAX = 2000


class PriorityRuleError(RuleError):
    """A change to a ward's priorities that the rules refuse."""


@dataclass(frozen=True)
class PriorityView:
    priority: Priority
    latest: Outcome | None = None

    @property
    def category_label(self) -> str:
        """The untranslated label; render it through `t`."""
        return CATEGORIES.get(self.priority.category, self.priority.category)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _check_title(title: str) -> str:
    title = _clean(title)
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise PriorityRuleError(
            N_("A priority's title must be {min} to {max} characters long."),
            min=TITLE_MIN,
            max=TITLE_MAX,
        )
    return title


def _check_description(description: str) -> str:
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise PriorityRuleError(
            N_("A priority's description can be at most {max} characters long."),
            max=DESCRIPTION_MAX,
        )
    return description


async def ward_priorities(db: Database, ward_code: str) -> list[PriorityView]:
    """Active priorities, oldest first, each with its latest recorded action."""
    active = await priority_store.active_for_ward(db, ward_code)
    latest = await outcome_store.latest_for_priorities(db, [p.id for p in active])
    return [PriorityView(p, latest.get(p.id)) for p in active]


async def add_priority(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    ward_code: str,
    title: str,
    category: str,
    description: str = "",
    *,
    by: str,
) -> Priority:
    if directory.ward(ward_code) is None:
        raise PriorityRuleError(N_("There is no ward with the code {code}."), code=ward_code)
    if category not in CATEGORIES:
        raise PriorityRuleError(
            N_("Unknown category {category}; use one of: {choices}."),
            category=category,
            choices=", ".join(CATEGORIES),
        )
    try:
        return await priority_store.add(
            db,
            ward_code,
            _check_title(title),
            category,
            _check_description(description),
            by=by,
            now=to_iso(clock.now()),
            max_active=MAX_ACTIVE,
        )
    except PriorityCountError as err:
        raise PriorityRuleError(
            N_(
                "This ward already has {active} active priorities, the most allowed is {max}. "
                "Retire one before adding another."
            ),
            active=err.active,
            max=MAX_ACTIVE,
        ) from err


async def reword_priority(
    db: Database, clock: Clock, priority_id: int, title: str, description: str, *, by: str
) -> Priority:
    try:
        return await priority_store.reword(
            db,
            priority_id,
            _check_title(title),
            _check_description(description),
            by=by,
            now=to_iso(clock.now()),
        )
    except PriorityNotFound as err:
        raise PriorityRuleError(N_("There is no active priority {id}."), id=priority_id) from err


async def retire_priority(db: Database, clock: Clock, priority_id: int, *, by: str) -> Priority:
    try:
        return await priority_store.retire(
            db, priority_id, by=by, now=to_iso(clock.now()), min_active=MIN_ACTIVE
        )
    except PriorityNotFound as err:
        raise PriorityRuleError(N_("There is no active priority {id}."), id=priority_id) from err
    except PriorityCountError as err:
        raise PriorityRuleError(
            N_(
                "This ward has {active} active priorities and must keep at least {min}. "
                "Add the new priority first, then retire this one."
            ),
            active=err.active,
            min=MIN_ACTIVE,
        ) from err


async def record_action(
    db: Database,
    clock: Clock,
    priority_id: int,
    we_did: str,
    *,
    you_said: str = "",
    action_date: date | None = None,
    by: str,
) -> Outcome:
    """A "we did" entry against a priority; `/priorities` shows the latest one."""
    priority = await priority_store.get(db, priority_id)
    if priority is None or priority.retired_at is not None:
        raise PriorityRuleError(N_("There is no active priority {id}."), id=priority_id)
    we_did = we_did.strip()
    if not 3 <= len(we_did) <= ACTION_MAX:
        raise PriorityRuleError(
            N_("What was done must be 3 to {max} characters long."), max=ACTION_MAX
        )
    when = action_date or clock.now().date()
    if when > clock.now().date():
        raise PriorityRuleError(N_("The date of an action cannot be in the future."))
    return await outcome_store.add(
        db,
        priority.ward_code,
        priority.id,
        you_said.strip() or priority.title,
        we_did,
        when.isoformat(),
        by=by,
        now=to_iso(clock.now()),
    )
