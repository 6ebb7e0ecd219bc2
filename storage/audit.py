"""The audit log: every staff action and every refusal, who, what, when, on what."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True)
class AuditLine:
    at: str
    actor: str
    action: str
    scope: str | None
    target: str | None
    outcome: str
    detail: str


async def write(
    db: Database,
    *,
    at: str,
    actor: str,
    action: str,
    scope: str | None,
    target: str | None,
    outcome: str,
    detail: str = "",
) -> None:
    await db.execute(
        "INSERT INTO audit_log (at, actor, action, scope, target, outcome, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, actor, action, scope, target, outcome, detail),
    )


async def recent(db: Database, limit: int = 100) -> list[AuditLine]:
    rows = await db.fetchall(
        "SELECT at, actor, action, scope, target, outcome, detail FROM audit_log"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [AuditLine(*(r[i] for i in range(7))) for r in rows]
