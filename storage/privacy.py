"""A person's data rights: everything stored about them (`export_of`), and erasing it
(`forget`), with the pending /forget prompt that guards the erasure.

Who a person is to us: their Telegram user id, stored as an integer in user and chat id
columns, and as the text `tg:<id>` in the columns that record who did something (`actor`
and every `..._by` column). Names are never stored.

`forget` runs in one transaction. It deletes what is only theirs, and keeps what belongs
to everyone, unlinked from them:

- concerns they raised: no longer linked to them; where no staff has acted on one (no
  answer, status change, priority or "we did" link), its text, place and photo go too,
  and it stays only as an anonymous count (category, ward, status, dates);
- ratings and ballots: the score and the picks stay (a vote's tally must not change),
  under a random negative number instead of their id;
- `tg:<id>` wherever it records an action becomes `forgotten`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from storage.db import Database, placeholders

FORGOTTEN = "forgotten"  # who did something, once that person has been forgotten

# A random negative number in place of a user id: no Telegram user id is negative, and
# the key a row is part of (a rating, a ballot) stays unique.
_RANDOM_NEGATIVE_ID = "-(abs(random()) % 9000000000000000000) - 1"

# Staff acted on a concern: any event not written by its resident (an answer, a status
# change), a link to a priority, or a "we did" entry about it.
_STAFF_ACTED = (
    "(EXISTS (SELECT 1 FROM concern_events e WHERE e.concern_id = c.id"
    " AND e.changed_by != 'resident')"
    " OR c.priority_id IS NOT NULL"
    " OR EXISTS (SELECT 1 FROM outcome_concerns oc WHERE oc.concern_id = c.id))"
)


def actor(user_id: int) -> str:
    """How a person is recorded as the one who did something (`bot.domain.roles.actor`)."""
    return f"tg:{user_id}"


# --- the pending /forget prompt --------------------------------------------------------


async def ask_to_forget(db: Database, user_id: int, token: str, now: str) -> None:
    """Remember that this person was shown the /forget prompt with `token` (a newer prompt
    replaces an older one: only its buttons work)."""
    await db.execute(
        "INSERT INTO forget_requests (user_id, token, asked_at) VALUES (?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET token = excluded.token,"
        " asked_at = excluded.asked_at",
        (user_id, token, now),
    )


async def drop_forget_request(db: Database, user_id: int, token: str) -> bool:
    """The prompt was answered "Keep my data". False if there was no such prompt."""
    changed = await db.execute(
        "DELETE FROM forget_requests WHERE user_id = ? AND token = ?", (user_id, token)
    )
    return changed == 1


# --- export ----------------------------------------------------------------------------


def _dicts(rows: list[sqlite3.Row]) -> list[dict[str, Any]]:
    return [dict(row) for row in rows]


async def _one(db: Database, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    row = await db.fetchone(sql, params)
    return None if row is None else dict(row)


async def _all(db: Database, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    return _dicts(await db.fetchall(sql, params))


def _message_text(own: str | None, texts: str, language: str) -> str | None:
    """What a recipient was sent: their own text, or the item's in their language."""
    if own is not None:
        return own
    shared = json.loads(texts or "{}")
    return shared.get(language) or shared.get("en") or next(iter(shared.values()), None)


async def export_of(db: Database, user_id: int) -> dict[str, Any]:
    """Every row about this person, as plain JSON-ready values.

    Other people are never named in it: staff who answered a concern show as "staff",
    and the people an invite or a role was given to are left out.
    """
    who = actor(user_id)
    p = (user_id,)

    concerns = await _all(
        db,
        "SELECT c.id, c.ref, c.ward_code, c.category, c.text, c.lat, c.lon, c.photo_file_id,"
        " c.share_contact, c.status, c.hidden_at, c.priority_id, c.created_at, c.updated_at,"
        " (SELECT count(*) FROM concern_supporters s WHERE s.concern_id = c.id)"
        " AS me_too_count"
        " FROM concerns c WHERE c.raised_by = ? ORDER BY c.created_at, c.id",
        p,
    )
    for concern in concerns:
        concern["events"] = await _all(
            db,
            "SELECT kind, from_status, to_status, text,"
            " CASE changed_by WHEN 'resident' THEN 'you' ELSE 'staff' END AS by, changed_at"
            " FROM concern_events WHERE concern_id = ? ORDER BY id",
            (concern.pop("id"),),
        )

    ballots = await _all(
        db,
        "SELECT b.vote_id, v.ward_code, v.audience, v.state AS vote_state, v.closes_at,"
        " b.cast_at, b.changed_at FROM ballots b JOIN votes v ON v.id = b.vote_id"
        " WHERE b.user_id = ? ORDER BY b.vote_id",
        p,
    )
    for ballot in ballots:
        ballot["picked"] = await _all(
            db,
            "SELECT ch.position, i.title FROM ballot_choices ch JOIN vote_items i"
            " ON i.vote_id = ch.vote_id AND i.position = ch.position"
            " WHERE ch.vote_id = ? AND ch.user_id = ? ORDER BY ch.position",
            (ballot["vote_id"], user_id),
        )

    messages = []
    for row in await db.fetchall(
        "SELECT o.item_id, i.kind, i.ward_code, o.language, o.text, i.texts, o.state,"
        " o.attempts, o.due_at, o.sent_at, o.error FROM outbox o"
        " JOIN outbox_items i ON i.id = o.item_id WHERE o.chat_id = ? ORDER BY o.id",
        p,
    ):
        message = dict(row)
        message["text"] = _message_text(message["text"], message.pop("texts"), row["language"])
        messages.append(message)

    return {
        "resident": await _one(db, "SELECT * FROM residents WHERE user_id = ?", p),
        "concern_draft": await _one(db, "SELECT * FROM concern_drafts WHERE user_id = ?", p),
        "concerns_raised": concerns,
        "me_too": await _all(
            db,
            "SELECT c.ref, c.ward_code, c.category, c.status, s.added_at"
            " FROM concern_supporters s JOIN concerns c ON c.id = s.concern_id"
            " WHERE s.user_id = ? ORDER BY s.added_at, c.id",
            p,
        ),
        "ratings": await _all(
            db,
            "SELECT c.ref, r.score, r.rated_at FROM ratings r JOIN concerns c"
            " ON c.id = r.concern_id WHERE r.user_id = ? ORDER BY r.rated_at, c.id",
            p,
        ),
        "ballots": ballots,
        "messages": messages,
        "forget_request": await _one(
            db, "SELECT asked_at FROM forget_requests WHERE user_id = ?", p
        ),
        "admin": await _one(db, "SELECT granted_at FROM admins WHERE user_id = ?", p),
        "roles": await _all(
            db,
            "SELECT scope, role, granted_at FROM roles WHERE user_id = ? ORDER BY scope, role",
            p,
        ),
        "staff_focus": await _one(db, "SELECT scope FROM staff_focus WHERE user_id = ?", p),
        "invites_used": await _all(
            db,
            "SELECT code, scope, role, used_at FROM invites WHERE used_by = ? ORDER BY used_at",
            p,
        ),
        # What they did as staff: everything recorded with `tg:<their id>`.
        "as_staff": {
            "invites_made": await _all(
                db,
                "SELECT code, scope, role, created_at, expires_at, used_at IS NOT NULL AS used"
                " FROM invites WHERE created_by = ? ORDER BY created_at",
                (who,),
            ),
            "roles_granted": await _all(
                db,
                "SELECT scope, role, granted_at FROM roles WHERE granted_by = ?"
                " ORDER BY granted_at",
                (who,),
            ),
            "concern_events": await _all(
                db,
                "SELECT c.ref, e.kind, e.from_status, e.to_status, e.text, e.changed_at"
                " FROM concern_events e JOIN concerns c ON c.id = e.concern_id"
                " WHERE e.changed_by = ? ORDER BY e.id",
                (who,),
            ),
            "priority_changes": await _all(
                db,
                "SELECT h.priority_id, p.ward_code, h.change, h.title, h.category,"
                " h.description, h.changed_at FROM priority_history h"
                " JOIN priorities p ON p.id = h.priority_id WHERE h.changed_by = ?"
                " ORDER BY h.id",
                (who,),
            ),
            "we_did_entries": await _all(
                db,
                "SELECT id, ward_code, priority_id, you_said, we_did, action_date, created_at"
                " FROM outcomes WHERE created_by = ? ORDER BY id",
                (who,),
            ),
            "response_templates": await _all(
                db,
                "SELECT ward_code, category, status, text, updated_at FROM response_templates"
                " WHERE updated_by = ? ORDER BY id",
                (who,),
            ),
            "meetings": await _all(
                db,
                "SELECT id, ward_code, starts_at, venue, open_to_public, online_link,"
                " created_by = ?1 AS scheduled_by_you, created_at,"
                " cancelled_by IS ?1 AS cancelled_by_you, cancelled_at"
                " FROM meetings WHERE created_by = ?1 OR cancelled_by = ?1 ORDER BY id",
                (who,),
            ),
            "votes": await _all(
                db,
                "SELECT id, ward_code, audience, state, created_by = ?1 AS set_up_by_you,"
                " created_at, opened_by IS ?1 AS opened_by_you, opened_at,"
                " closed_by IS ?1 AS closed_by_you, closed_at FROM votes"
                " WHERE created_by = ?1 OR opened_by = ?1 OR closed_by = ?1 ORDER BY id",
                (who,),
            ),
            "broadcasts": await _all(
                db,
                "SELECT id, kind, ward_code, texts, state, total, created_at, queued_at,"
                " finished_at FROM outbox_items WHERE created_by = ? ORDER BY id",
                (who,),
            ),
            "audit_log": await _all(
                db,
                "SELECT at, action, scope, target, outcome, detail FROM audit_log"
                " WHERE actor = ? OR substr(target, 1, ?) = ? ORDER BY id",
                (who, len(f"{user_id}:"), f"{user_id}:"),
            ),
        },
    }


# --- forget ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgotten:
    """What one erasure did, in counts (nothing in it names the person)."""

    concerns: int = 0  # concerns they raised, now anonymous
    texts_erased: int = 0  # of those, the ones no staff had acted on: text, place, photo gone
    me_too: int = 0
    ratings: int = 0  # kept as scores, unlinked
    ballots: int = 0  # kept in the count, unlinked
    roles: int = 0
    messages: int = 0  # outbox rows to them
    actions: int = 0  # records of what they did (`tg:<id>` → `forgotten`)
    finished_items: list[int] = field(default_factory=list)  # outbox items now complete


async def _actor_columns(conn: aiosqlite.Connection) -> list[tuple[str, str]]:
    """Every text column that records who did something: `actor` and `..._by` (read from
    the schema, so a column a later migration adds is covered too)."""
    tables = [
        str(r[0])
        for r in await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    found = []
    for table in tables:
        for column in await conn.execute_fetchall(f'PRAGMA table_info("{table}")'):
            name, declared = str(column[1]), str(column[2]).upper()
            if (name == "actor" or name.endswith("_by")) and "TEXT" in declared:
                found.append((table, name))
    return found


async def _finish_items(conn: aiosqlite.Connection, item_ids: list[int], now: str) -> list[int]:
    """Items left sending with no row to send any more are done (as the dispatcher would
    record them after their last row)."""
    if not item_ids:
        return []
    done = [
        int(r[0])
        for r in await conn.execute_fetchall(
            f"SELECT id FROM outbox_items i WHERE id IN ({placeholders(item_ids)})"
            " AND state = 'sending' AND NOT EXISTS (SELECT 1 FROM outbox o"
            " WHERE o.item_id = i.id AND o.state IN ('pending', 'sending'))",
            item_ids,
        )
    ]
    if done:
        await conn.execute(
            f"UPDATE outbox_items SET state = 'done', finished_at = ?"
            f" WHERE id IN ({placeholders(done)})",
            [now, *done],
        )
    return done


async def _count(conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...]) -> int:
    cursor = await conn.execute(sql, params)
    return cursor.rowcount


async def forget(
    db: Database,
    user_id: int,
    now: str,
    *,
    token: str | None = None,
    asked_after: str | None = None,
) -> Forgotten | None:
    """Erase a person, in one transaction (see the module's docstring for what stays).

    With `token`, only if they have that /forget prompt pending, asked after
    `asked_after`: otherwise None, and nothing changes. The caller checkpoints the WAL
    afterwards, so the erased rows leave it too (`secure_delete` is on for the file).
    """
    who = actor(user_id)
    p = (user_id,)
    async with db.transaction() as conn:
        if token is not None:
            cursor = await conn.execute(
                "DELETE FROM forget_requests WHERE user_id = ? AND token = ? AND asked_at > ?",
                (user_id, token, asked_after or ""),
            )
            if cursor.rowcount != 1:
                return None

        # Concerns they raised: unlinked; erased down to a count where no staff acted.
        texts_erased = await _count(
            conn,
            "UPDATE concerns AS c SET text = '', lat = NULL, lon = NULL, photo_file_id = NULL"
            f" WHERE c.raised_by = ? AND NOT {_STAFF_ACTED}",
            p,
        )
        concerns = await _count(
            conn,
            "UPDATE concerns SET raised_by = NULL, share_contact = 0, draft_key = NULL"
            " WHERE raised_by = ?",
            p,
        )
        me_too = await _count(conn, "DELETE FROM concern_supporters WHERE user_id = ?", p)
        await conn.execute("DELETE FROM concern_drafts WHERE user_id = ?", p)

        # Scores and votes stay counted under a random negative number (ballot_choices
        # follows its ballot: ON UPDATE CASCADE).
        ratings = await _count(
            conn, f"UPDATE ratings SET user_id = {_RANDOM_NEGATIVE_ID} WHERE user_id = ?", p
        )
        ballots = await _count(
            conn, f"UPDATE ballots SET user_id = {_RANDOM_NEGATIVE_ID} WHERE user_id = ?", p
        )

        # Messages to them; items that were waiting only for them are now complete.
        waiting = [
            int(r[0])
            for r in await conn.execute_fetchall(
                "SELECT DISTINCT item_id FROM outbox WHERE chat_id = ?"
                " AND state IN ('pending', 'sending')",
                p,
            )
        ]
        messages = await _count(conn, "DELETE FROM outbox WHERE chat_id = ?", p)
        finished = await _finish_items(conn, waiting, now)
        await conn.execute(
            "DELETE FROM outbox_items WHERE state = 'draft' AND created_by = ?", (who,)
        )
        await conn.execute(
            "UPDATE outbox_items SET progress_chat = NULL, progress_message = NULL"
            " WHERE progress_chat = ?",
            p,
        )

        # Roles and what came with them.
        roles = await _count(conn, "DELETE FROM roles WHERE user_id = ?", p)
        roles += await _count(conn, "DELETE FROM admins WHERE user_id = ?", p)
        await conn.execute("DELETE FROM staff_focus WHERE user_id = ?", p)
        await conn.execute("DELETE FROM staff_menus WHERE user_id = ?", p)
        # The invite stays spent (used_at), but no longer says by whom.
        await conn.execute("UPDATE invites SET used_by = NULL WHERE used_by = ?", p)

        # Records of what they did stay, done by "forgotten"; so do grants about them.
        actions = 0
        for table, column in await _actor_columns(conn):
            actions += await _count(
                conn,
                f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?',
                (FORGOTTEN, who),
            )
        prefix = f"{user_id}:"
        await conn.execute(
            "UPDATE audit_log SET target = ? || substr(target, ?) WHERE substr(target, 1, ?) = ?",
            (FORGOTTEN, len(prefix), len(prefix), prefix),
        )

        # Last, the person (their pending prompt goes with them: ON DELETE CASCADE).
        await conn.execute("DELETE FROM residents WHERE user_id = ?", p)
    return Forgotten(
        concerns=concerns,
        texts_erased=texts_erased,
        me_too=me_too,
        ratings=ratings,
        ballots=ballots,
        roles=roles,
        messages=messages,
        actions=actions,
        finished_items=finished,
    )
