"""Who may do what, for which ward: roles, admins, invites and the audit log.

Every staff action calls `authorise` when it runs (not only when a menu is drawn): a
resident who types a staff command, a forged button, or a panel member of one ward acting
on another is refused there, and the refusal is written to the audit log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock, to_iso
from bot.domain.directory import WardDirectory
from bot.domain.errors import RuleError
from bot.i18n import N_
from storage import audit
from storage import roles as role_store
from storage.db import Database
from storage.roles import Invite, InviteUnusable, RoleGrant

INVITE_DAYS = 7
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 10


class Role(StrEnum):
    PANEL_MEMBER = "panel_member"
    PANEL_CHAIR = "panel_chair"
    TEAM_MEMBER = "team_member"
    YOUTH = "youth"


class Action(StrEnum):
    MANAGE_PRIORITIES = "manage_priorities"
    REVIEW_CONCERNS = "review_concerns"
    RESPOND = "respond"
    RECORD_OUTCOME = "record_outcome"
    SCHEDULE_MEETING = "schedule_meeting"
    OPEN_VOTE = "open_vote"
    BROADCAST = "broadcast"
    MODERATE = "moderate"
    VIEW_STATS = "view_stats"
    INVITE = "invite"
    POSTER = "poster"


ROLE_LABELS: dict[Role, str] = {
    Role.PANEL_MEMBER: N_("panel member"),
    Role.PANEL_CHAIR: N_("panel chair"),
    Role.TEAM_MEMBER: N_("neighbourhood team member"),
    Role.YOUTH: N_("youth panel member"),
}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.PANEL_CHAIR: frozenset(Action) - {Action.BROADCAST},
    Role.PANEL_MEMBER: frozenset(
        {
            Action.MANAGE_PRIORITIES,
            Action.REVIEW_CONCERNS,
            Action.SCHEDULE_MEETING,
            Action.OPEN_VOTE,
            Action.VIEW_STATS,
            Action.POSTER,
        }
    ),
    Role.TEAM_MEMBER: frozenset(
        {
            Action.REVIEW_CONCERNS,
            Action.RESPOND,
            Action.RECORD_OUTCOME,
            Action.BROADCAST,
            Action.MODERATE,
            Action.VIEW_STATS,
            Action.POSTER,
        }
    ),
    Role.YOUTH: frozenset(),
}

# What a ward's chair may hand out by invite (admins may hand out anything).
CHAIR_MAY_INVITE = frozenset({Role.PANEL_MEMBER, Role.TEAM_MEMBER, Role.YOUTH})


class NotAllowed(RuleError):
    """Refused on the server; already written to the audit log."""


def actor(user_id: int) -> str:
    return f"tg:{user_id}"


@dataclass(frozen=True)
class Staff:
    """What one user may do: admin everywhere, or roles per ward."""

    user_id: int
    admin: bool
    grants: tuple[RoleGrant, ...]

    def roles_in(self, scope: str) -> set[Role]:
        return {Role(g.role) for g in self.grants if g.scope == scope}

    def may(self, action: Action, ward_code: str, borough_code: str | None = None) -> bool:
        if self.admin:
            return True
        scopes = {ward_code} | ({borough_code} if borough_code else set())
        return any(action in PERMISSIONS[Role(g.role)] for g in self.grants if g.scope in scopes)

    @property
    def staff_wards(self) -> list[str]:
        """Wards where this user holds a staff (not youth) role."""
        return sorted({g.scope for g in self.grants if g.role != Role.YOUTH})

    @property
    def is_staff(self) -> bool:
        return self.admin or bool(self.staff_wards)


async def staff_of(db: Database, admin_ids: frozenset[int], user_id: int) -> Staff:
    admin = user_id in admin_ids or await role_store.is_admin(db, user_id)
    return Staff(user_id, admin, tuple(await role_store.roles_of(db, user_id)))


async def authorise(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    user_id: int,
    action: Action,
    ward_code: str,
    *,
    target: str | None = None,
) -> Staff:
    """The staff member, if they may do `action` in `ward_code`; otherwise refuse and audit."""
    staff = await staff_of(db, admin_ids, user_id)
    ward = directory.ward(ward_code)
    if ward is not None and staff.may(action, ward.code, ward.borough_code):
        return staff
    await record(db, clock, actor(user_id), action, ward_code, target, refused=True)
    raise NotAllowed(N_("Sorry, you can't do that for this ward."))


async def record(
    db: Database,
    clock: Clock,
    who: str,
    action: Action | str,
    scope: str | None,
    target: str | None = None,
    detail: str = "",
    *,
    refused: bool = False,
) -> None:
    """Write a staff action, done or refused, to the audit log."""
    await audit.write(
        db,
        at=to_iso(clock.now()),
        actor=who,
        action=str(action),
        scope=scope,
        target=target,
        outcome="refused" if refused else "done",
        detail=detail,
    )


def _scope_known(directory: WardDirectory, scope: str, role: Role) -> bool:
    if directory.ward(scope) is not None:
        return True
    # A youth panel may be a whole borough's.
    return role is Role.YOUTH and any(w.borough_code == scope for w in directory.index.wards())


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


async def create_invite(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    admin_ids: frozenset[int],
    *,
    by_user: int | None,
    scope: str,
    role: Role,
    days: int = INVITE_DAYS,
) -> Invite:
    """A one-time code for `role` in `scope`, made by an admin, a ward's chair, or the CLI
    (`by_user` None)."""
    if not _scope_known(directory, scope, role):
        raise RuleError(N_("There is no ward or borough with the code {code}."), code=scope)
    who = "cli" if by_user is None else actor(by_user)
    if by_user is not None:
        staff = await staff_of(db, admin_ids, by_user)
        if not staff.admin and not (
            Role.PANEL_CHAIR in staff.roles_in(scope) and role in CHAIR_MAY_INVITE
        ):
            await record(db, clock, who, Action.INVITE, scope, role.value, refused=True)
            raise NotAllowed(N_("Sorry, you can't make that invite for this ward."))
    now = clock.now()
    invite = await role_store.create_invite(
        db,
        new_invite_code(),
        scope,
        role.value,
        by=who,
        now=to_iso(now),
        expires_at=to_iso(now + timedelta(days=days)),
    )
    await record(
        db, clock, who, Action.INVITE, scope, target=role.value, detail=f"code {invite.code}"
    )
    return invite


async def join(db: Database, clock: Clock, user_id: int, code: str) -> Invite:
    """Redeem a one-time invite code; a wrong, expired or used code is refused and audited."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    try:
        invite = await role_store.redeem_invite(db, cleaned, user_id, now=to_iso(clock.now()))
    except InviteUnusable as err:
        await record(
            db, clock, actor(user_id), "join", None, cleaned[:20], err.reason, refused=True
        )
        messages = {
            "unknown": N_(
                "That invite code isn't valid. Please check it with whoever gave it to you."
            ),
            "expired": N_("That invite code has expired. Please ask for a new one."),
            "used": N_("That invite code has already been used. Please ask for a new one."),
        }
        raise RuleError(messages[err.reason]) from err
    await record(db, clock, actor(user_id), "join", invite.scope, target=invite.role)
    return invite


async def grant(
    db: Database,
    clock: Clock,
    directory: WardDirectory,
    user_id: int,
    scope: str,
    role: Role | str,
    *,
    by: str = "cli",
) -> bool:
    if role == "admin":
        await role_store.grant_admin(db, user_id, by=by, now=to_iso(clock.now()))
        await record(db, clock, by, "grant", None, target=f"{user_id}:admin")
        return True
    role = Role(role)
    if not _scope_known(directory, scope, role):
        raise RuleError(N_("There is no ward or borough with the code {code}."), code=scope)
    added = await role_store.grant(db, user_id, scope, role.value, by=by, now=to_iso(clock.now()))
    await record(db, clock, by, "grant", scope, target=f"{user_id}:{role.value}")
    return added


async def revoke(
    db: Database,
    clock: Clock,
    user_id: int,
    scope: str | None,
    role: str | None,
    *,
    by: str = "cli",
) -> int:
    if role == "admin":
        removed = await role_store.revoke_admin(db, user_id)
        target = f"{user_id}:admin"
    else:
        if scope is None:
            raise RuleError(N_("Name the ward whose role is to be revoked."))
        removed = await role_store.revoke(db, user_id, scope, Role(role).value if role else None)
        target = f"{user_id}:{role or 'all'}"
    await record(db, clock, by, "revoke", scope, target=target, detail=f"{removed} removed")
    return removed
