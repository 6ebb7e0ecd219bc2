"""Helpers for staff-side tests: staff members by invite, refusals counted."""

from __future__ import annotations

from bot.domain import roles
from storage import audit
from tests.conftest import Person, World


async def invite_code(
    world: World, scope: str, role: roles.Role, days: int = roles.INVITE_DAYS
) -> str:
    """A one-time code for `role` in `scope`, made from the shell (no user behind it)."""
    svc = world.services
    invite = await roles.create_invite(
        svc.db,
        svc.clock,
        svc.wards,
        svc.settings.admin_ids,
        by_user=None,
        scope=scope,
        role=role,
        days=days,
    )
    return invite.code


async def join_as(world: World, ward_code: str, role: roles.Role) -> Person:
    """A person living in `ward_code` who redeemed an invite for `role` there."""
    code = await invite_code(world, ward_code, role)
    person = world.person()
    await person.says(f"/start {ward_code}")
    reply = await person.says(f"/join {code}")
    assert "You are now a" in reply.text
    return person


async def refusals(world: World) -> int:
    return sum(1 for line in await audit.recent(world.db, 1000) if line.outcome == "refused")


async def audit_actions(world: World, outcome: str) -> list[str]:
    return [line.action for line in await audit.recent(world.db, 1000) if line.outcome == outcome]
