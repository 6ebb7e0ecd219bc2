"""Staff roles per ward (or borough), admins granted at run time, and one-time invites."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class RoleGrant:
    user_id: int
    scope: str
    role: str


@dataclass(frozen=True)
class Invite:
    code: str
    scope: str
    role: str
    expires_at: str
    used_by: int | None


class InviteUnusable(Exception):
    """The code does not exist, has expired, or was used already."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unknown", "expired" or "used"


async def roles_of(db: Database, user_id: int) -> list[RoleGrant]:
    rows = await db.fetchall(
        "SELECT user_id, scope, role FROM roles WHERE user_id = ? ORDER BY scope, role", (user_id,)
    )
    return [RoleGrant(r[0], r[1], r[2]) for r in rows]


async def staff_user_ids(db: Database) -> list[int]:
    rows = await db.fetchall(
        "SELECT user_id FROM roles WHERE role != 'youth' UNION SELECT user_id FROM admins"
    )
    return [int(r[0]) for r in rows]


async def menus_sent(db: Database) -> dict[int, str]:
    """Each staff chat's menu as last sent at start-up (a digest), by user id."""
    rows = await db.fetchall("SELECT user_id, digest FROM staff_menus")
    return {int(r[0]): str(r[1]) for r in rows}


async def record_menus(db: Database, sent: dict[int, str], removed: Iterable[int] = ()) -> None:
    """Remember the menus just sent, and forget those taken away."""
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO staff_menus (user_id, digest) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET digest = excluded.digest",
            list(sent.items()),
        )
        await conn.executemany("DELETE FROM staff_menus WHERE user_id = ?", [(u,) for u in removed])


async def grant(db: Database, user_id: int, scope: str, role: str, *, by: str, now: str) -> bool:
    """True when the role is new for this user and scope."""
    cursor_count = await db.execute(
        "INSERT INTO roles (user_id, scope, role, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (user_id, scope, role, by, now),
    )
    return cursor_count == 1


async def revoke(db: Database, user_id: int, scope: str, role: str | None) -> int:
    """Remove one role, or every role of the user in that scope; returns how many."""
    if role is None:
        return await db.execute(
            "DELETE FROM roles WHERE user_id = ? AND scope = ?", (user_id, scope)
        )
    return await db.execute(
        "DELETE FROM roles WHERE user_id = ? AND scope = ? AND role = ?", (user_id, scope, role)
    )


async def is_admin(db: Database, user_id: int) -> bool:
    return await db.fetchone("SELECT 1 FROM admins WHERE user_id = ?", (user_id,)) is not None


async def grant_admin(db: Database, user_id: int, *, by: str, now: str) -> None:
    await db.execute(
        "INSERT INTO admins (user_id, granted_by, granted_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (user_id, by, now),
    )


async def revoke_admin(db: Database, user_id: int) -> int:
    return await db.execute("DELETE FROM admins WHERE user_id = ?", (user_id,))


async def create_invite(
    db: Database, code: str, scope: str, role: str, *, by: str, now: str, expires_at: str
) -> Invite:
    await db.execute(
        "INSERT INTO invites (code, scope, role, created_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (code, scope, role, by, now, expires_at),
    )
    return Invite(code, scope, role, expires_at, None)


async def redeem_invite(db: Database, code: str, user_id: int, *, now: str) -> Invite:
    """Use a code once: the role is granted and the code spent in one transaction."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT code, scope, role, expires_at, used_by, used_at FROM invites WHERE code = ?",
            (code,),
        )
        row = await cursor.fetchone()
        if row is None:
            raise InviteUnusable("unknown")
        invite = Invite(row[0], row[1], row[2], row[3], row[4])
        # used_at, not used_by: someone who used it and was then forgotten left no used_by.
        if row[5] is not None:
            raise InviteUnusable("used")
        if invite.expires_at <= now:
            raise InviteUnusable("expired")
        await conn.execute(
            "UPDATE invites SET used_by = ?, used_at = ? WHERE code = ? AND used_at IS NULL",
            (user_id, now, code),
        )
        await conn.execute(
            "INSERT INTO roles (user_id, scope, role, granted_by, granted_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (user_id, invite.scope, invite.role, f"invite:{code}", now),
        )
    return invite


async def focus(db: Database, user_id: int) -> str | None:
    return await db.fetchval("SELECT scope FROM staff_focus WHERE user_id = ?", (user_id,))


async def set_focus(db: Database, user_id: int, scope: str) -> None:
    await db.execute(
        "INSERT INTO staff_focus (user_id, scope) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET scope = excluded.scope",
        (user_id, scope),
    )
