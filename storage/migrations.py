"""Numbered schema migrations, applied at start-up.

Migration N brings the schema from `user_version` N-1 to N. Each runs in one transaction
together with its `PRAGMA user_version` bump (the pragma rolls back with the transaction),
so a crash mid-migration leaves the previous version intact. `executescript()` would
commit early, so statements are split and run one by one.
"""

from __future__ import annotations

import sqlite3

import aiosqlite

MIGRATIONS: list[str] = [
    # 1: wards, residents, postcodes, priorities and "you said, we did" outcomes.
    """
    CREATE TABLE boroughs (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE wards (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        borough_code TEXT NOT NULL REFERENCES boroughs(code),
        geometry BLOB NOT NULL,              -- WKB, WGS84 lon/lat
        active INTEGER NOT NULL DEFAULT 1,   -- 0 once a later import no longer has it
        imported_at TEXT NOT NULL,
        retired_at TEXT
    );
    CREATE INDEX wards_active ON wards(active, borough_code);
    CREATE TABLE ward_imports (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        year TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        wards_added INTEGER NOT NULL,
        wards_updated INTEGER NOT NULL,
        wards_unchanged INTEGER NOT NULL,
        wards_retired INTEGER NOT NULL,
        residents_replaced INTEGER NOT NULL,
        residents_to_ask INTEGER NOT NULL
    );
    CREATE TABLE residents (
        user_id INTEGER PRIMARY KEY,
        language TEXT NOT NULL DEFAULT 'en',
        ward_code TEXT REFERENCES wards(code),
        placed_by TEXT,                      -- location, postcode, address, name, link
        lat REAL,                            -- the point they gave, kept to re-place them
        lon REAL,                            -- when boundaries are redrawn
        finding_ward INTEGER NOT NULL DEFAULT 1,
        ward_lost_at TEXT,                   -- their ward vanished in an import: ask again
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX residents_ward ON residents(ward_code);
    CREATE TABLE postcodes (
        postcode TEXT PRIMARY KEY,           -- normalised: upper case, one space
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        ward_code TEXT                       -- as the file gave it, if it did
    ) WITHOUT ROWID;
    CREATE TABLE priorities (
        id INTEGER PRIMARY KEY,
        ward_code TEXT NOT NULL REFERENCES wards(code),
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        set_at TEXT NOT NULL,
        retired_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX priorities_ward ON priorities(ward_code, retired_at);
    CREATE TABLE priority_history (
        id INTEGER PRIMARY KEY,
        priority_id INTEGER NOT NULL REFERENCES priorities(id),
        change TEXT NOT NULL CHECK (change IN ('added', 'reworded', 'retired')),
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        description TEXT NOT NULL,
        changed_by TEXT NOT NULL,
        changed_at TEXT NOT NULL
    );
    CREATE INDEX priority_history_priority ON priority_history(priority_id);
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        ward_code TEXT NOT NULL REFERENCES wards(code),
        priority_id INTEGER REFERENCES priorities(id),
        you_said TEXT NOT NULL,
        we_did TEXT NOT NULL,
        action_date TEXT NOT NULL,           -- YYYY-MM-DD, when it was done
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX outcomes_priority ON outcomes(priority_id, action_date);
    CREATE INDEX outcomes_ward ON outcomes(ward_code, action_date);
    """,
    # 2: concerns, their supporters ("me too"), their history, and drafts in progress.
    """
    CREATE TABLE concerns (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL UNIQUE,            -- WV-XXXXX, read out on the phone
        ward_code TEXT NOT NULL REFERENCES wards(code),
        category TEXT NOT NULL,
        text TEXT NOT NULL,                  -- as the resident wrote it; escaped when shown
        lat REAL,
        lon REAL,
        photo_file_id TEXT,                  -- Telegram's file id, not the bytes
        raised_by INTEGER REFERENCES residents(user_id) ON DELETE SET NULL,
        share_contact INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'received'
            CHECK (status IN ('received', 'reviewed', 'priority', 'action', 'closed')),
        draft_key TEXT UNIQUE,               -- the draft it came from: a double tap files once
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX concerns_ward ON concerns(ward_code, category, status);
    CREATE INDEX concerns_raised_by ON concerns(raised_by, created_at);
    CREATE INDEX concerns_place ON concerns(category, lat, lon);
    CREATE TABLE concern_supporters (
        concern_id INTEGER NOT NULL REFERENCES concerns(id),
        user_id INTEGER NOT NULL REFERENCES residents(user_id) ON DELETE CASCADE,
        added_at TEXT NOT NULL,
        PRIMARY KEY (concern_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX concern_supporters_user ON concern_supporters(user_id);
    CREATE TABLE concern_events (
        id INTEGER PRIMARY KEY,
        concern_id INTEGER NOT NULL REFERENCES concerns(id),
        kind TEXT NOT NULL CHECK (kind IN ('status', 'response')),
        from_status TEXT,
        to_status TEXT,
        text TEXT,
        changed_by TEXT NOT NULL,            -- 'resident', 'cli', 'tg:<user id>' of staff
        changed_at TEXT NOT NULL
    );
    CREATE INDEX concern_events_concern ON concern_events(concern_id, id);
    CREATE TABLE concern_drafts (
        user_id INTEGER PRIMARY KEY REFERENCES residents(user_id) ON DELETE CASCADE,
        draft_key TEXT NOT NULL UNIQUE,
        step TEXT NOT NULL,
        category TEXT,
        text TEXT,
        lat REAL,
        lon REAL,
        ward_code TEXT,
        photo_file_id TEXT,
        reviewing INTEGER NOT NULL DEFAULT 0, -- a change from the review screen returns there
        updated_at TEXT NOT NULL
    );
    """,
    # 3: staff roles per ward (or borough, for youth panels), admins, invites, audit log.
    """
    CREATE TABLE roles (
        user_id INTEGER NOT NULL,
        scope TEXT NOT NULL,                 -- a ward code, or a borough code for youth panels
        role TEXT NOT NULL
            CHECK (role IN ('panel_member', 'panel_chair', 'team_member', 'youth')),
        granted_by TEXT NOT NULL,
        granted_at TEXT NOT NULL,
        PRIMARY KEY (user_id, scope, role)
    ) WITHOUT ROWID;
    CREATE INDEX roles_scope ON roles(scope, role);
    CREATE TABLE admins (
        user_id INTEGER PRIMARY KEY,
        granted_by TEXT NOT NULL,
        granted_at TEXT NOT NULL
    );
    CREATE TABLE invites (
        code TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        role TEXT NOT NULL
            CHECK (role IN ('panel_member', 'panel_chair', 'team_member', 'youth')),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_by INTEGER,
        used_at TEXT
    );
    CREATE TABLE staff_focus (
        user_id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL                  -- the ward a staff member is working on now
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,                 -- 'tg:<user id>' or 'cli'
        action TEXT NOT NULL,
        scope TEXT,
        target TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('done', 'refused')),
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_log_scope ON audit_log(scope, at);
    """,
    # 4: concern review: moderation, links to priorities and to "we did" entries, templates.
    """
    ALTER TABLE concerns ADD COLUMN hidden_at TEXT;          -- text hidden by a moderator
    ALTER TABLE concerns ADD COLUMN priority_id INTEGER REFERENCES priorities(id);
    ALTER TABLE residents ADD COLUMN blocked_at TEXT;        -- stopped from raising concerns
    CREATE TABLE outcome_concerns (
        outcome_id INTEGER NOT NULL REFERENCES outcomes(id),
        concern_id INTEGER NOT NULL REFERENCES concerns(id),
        PRIMARY KEY (outcome_id, concern_id)
    ) WITHOUT ROWID;
    CREATE TABLE response_templates (
        id INTEGER PRIMARY KEY,
        ward_code TEXT NOT NULL REFERENCES wards(code),
        category TEXT NOT NULL,
        status TEXT NOT NULL,
        text TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (ward_code, category, status)
    );
    """,
    # 5: panel meetings, one row each (panels rotate days and hours).
    """
    CREATE TABLE meetings (
        id INTEGER PRIMARY KEY,
        ward_code TEXT NOT NULL REFERENCES wards(code),
        starts_at TEXT NOT NULL,             -- UTC ISO (bot.clock.to_iso); shown in local time
        venue TEXT NOT NULL,
        open_to_public INTEGER NOT NULL CHECK (open_to_public IN (0, 1)),
        online_link TEXT,                    -- http(s) only; NULL when in person only
        created_by TEXT NOT NULL,            -- 'tg:<user id>' or 'cli'
        created_at TEXT NOT NULL,
        cancelled_at TEXT,
        cancelled_by TEXT
    );
    CREATE INDEX meetings_ward ON meetings(ward_code, starts_at);
    CREATE INDEX meetings_upcoming ON meetings(starts_at) WHERE cancelled_at IS NULL;
    -- One live meeting per ward and moment: a double-sent /meeting schedules it once.
    CREATE UNIQUE INDEX meetings_ward_slot ON meetings(ward_code, starts_at)
        WHERE cancelled_at IS NULL;
    """,
    # 6: delivery: subscriptions, the outbox, follow-up ratings, schedule watermarks.
    """
    ALTER TABLE residents ADD COLUMN updates TEXT NOT NULL DEFAULT 'off'
        CHECK (updates IN ('off', 'instant', 'weekly'));
    ALTER TABLE residents ADD COLUMN updates_asked_at TEXT;   -- asked once at onboarding
    ALTER TABLE residents ADD COLUMN updates_changed_at TEXT;
    ALTER TABLE residents ADD COLUMN digest_after INTEGER NOT NULL DEFAULT 0; -- last outcome id
    ALTER TABLE residents ADD COLUMN unreachable_at TEXT;     -- Telegram said 403: blocked us
    ALTER TABLE residents ADD COLUMN last_seen_at TEXT;       -- for retention
    CREATE INDEX residents_updates ON residents(ward_code, updates);
    CREATE TABLE outbox_items (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN
            ('broadcast', 'digest', 'reminder', 'followup', 'nudge', 'wedid', 'answer',
             'results')),
        key TEXT UNIQUE,                     -- makes a scheduled item once-only
        ward_code TEXT,
        texts TEXT NOT NULL DEFAULT '{}',    -- JSON {language: HTML} shared by recipients
        markup TEXT,                         -- JSON inline keyboard, or NULL
        state TEXT NOT NULL CHECK (state IN ('draft', 'sending', 'done', 'cancelled')),
        total INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        queued_at TEXT,
        finished_at TEXT,
        progress_chat INTEGER,               -- a broadcast's live progress message
        progress_message INTEGER,
        progress_language TEXT
    );
    CREATE INDEX outbox_items_state ON outbox_items(state);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES outbox_items(id) ON DELETE CASCADE,
        chat_id INTEGER NOT NULL,
        language TEXT NOT NULL DEFAULT 'en',
        text TEXT,                           -- this recipient's own HTML (a digest), or NULL
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
            ('pending', 'sending', 'sent', 'blocked', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at TEXT NOT NULL,
        sent_at TEXT,
        error TEXT,
        UNIQUE (item_id, chat_id)
    );
    CREATE INDEX outbox_due ON outbox(due_at, id) WHERE state IN ('pending', 'sending');
    CREATE INDEX outbox_chat ON outbox(chat_id) WHERE state IN ('pending', 'sending');
    CREATE INDEX outbox_item_state ON outbox(item_id, state);
    CREATE TABLE ratings (
        concern_id INTEGER NOT NULL REFERENCES concerns(id),
        user_id INTEGER NOT NULL,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
        rated_at TEXT NOT NULL,
        PRIMARY KEY (concern_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE schedule_marks (
        job TEXT NOT NULL,                   -- digest, nudge, retention...
        scope TEXT NOT NULL,                 -- a ward code, or '' for the whole bot
        done_until TEXT NOT NULL,            -- the last slot this job has handled
        PRIMARY KEY (job, scope)
    ) WITHOUT ROWID;
    """,
    # 7: agenda votes, ballots, meeting agendas; when a resident chose their ward; the
    # outbox learns the kind 'vote' (SQLite cannot alter a CHECK: both tables are rebuilt,
    # child first, so no cascade fires).
    """
    ALTER TABLE residents ADD COLUMN ward_since TEXT;        -- when they chose this ward
    UPDATE residents SET ward_since = created_at WHERE ward_code IS NOT NULL;
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY,
        ward_code TEXT NOT NULL,
        borough_code TEXT NOT NULL,
        meeting_id INTEGER NOT NULL REFERENCES meetings(id),
        audience TEXT NOT NULL CHECK (audience IN ('ward_youth', 'borough_youth', 'residents')),
        picks INTEGER NOT NULL CHECK (picks BETWEEN 1 AND 10),    -- items each voter may pick
        places INTEGER NOT NULL CHECK (places BETWEEN 1 AND 10),  -- items that go on the agenda
        close_hours INTEGER NOT NULL,        -- closes this many hours before the meeting
        closes_at TEXT,                      -- fixed when it opens
        state TEXT NOT NULL DEFAULT 'draft'
            CHECK (state IN ('draft', 'open', 'closed', 'discarded')),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        opened_by TEXT,
        opened_at TEXT,
        closed_by TEXT,                      -- 'schedule' when it closed at its time
        closed_at TEXT,
        eligible INTEGER,                    -- frozen at the close: the electorate
        voters INTEGER,                      -- frozen at the close: ballots cast
        published_at TEXT                    -- results on the agenda and queued to send
    );
    CREATE INDEX votes_due ON votes(closes_at) WHERE state = 'open';
    CREATE INDEX votes_ward ON votes(ward_code, state);
    CREATE INDEX votes_unpublished ON votes(id) WHERE state = 'closed' AND published_at IS NULL;
    CREATE TABLE vote_items (
        vote_id INTEGER NOT NULL REFERENCES votes(id) ON DELETE CASCADE,
        position INTEGER NOT NULL CHECK (position BETWEEN 1 AND 10),
        title TEXT NOT NULL,
        detail TEXT,
        votes INTEGER,                       -- frozen at the close
        won INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (vote_id, position)
    ) WITHOUT ROWID;
    -- One ballot per person per vote: the primary key, not the handler, enforces it.
    CREATE TABLE ballots (
        vote_id INTEGER NOT NULL REFERENCES votes(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        cast_at TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        PRIMARY KEY (vote_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE ballot_choices (
        vote_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (vote_id, user_id, position),
        FOREIGN KEY (vote_id, user_id) REFERENCES ballots(vote_id, user_id)
            ON DELETE CASCADE ON UPDATE CASCADE,
        FOREIGN KEY (vote_id, position) REFERENCES vote_items(vote_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX ballot_choices_item ON ballot_choices(vote_id, position);
    CREATE TABLE agenda_items (
        id INTEGER PRIMARY KEY,
        meeting_id INTEGER NOT NULL REFERENCES meetings(id),
        title TEXT NOT NULL,
        detail TEXT,
        vote_id INTEGER REFERENCES votes(id),
        vote_position INTEGER,
        votes INTEGER,
        added_at TEXT NOT NULL,
        UNIQUE (vote_id, vote_position)
    );
    CREATE INDEX agenda_meeting ON agenda_items(meeting_id);
    CREATE TABLE outbox_items_v7 (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN
            ('broadcast', 'digest', 'reminder', 'followup', 'nudge', 'wedid', 'answer',
             'results', 'vote')),
        key TEXT UNIQUE,
        ward_code TEXT,
        texts TEXT NOT NULL DEFAULT '{}',
        markup TEXT,
        state TEXT NOT NULL CHECK (state IN ('draft', 'sending', 'done', 'cancelled')),
        total INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        queued_at TEXT,
        finished_at TEXT,
        progress_chat INTEGER,
        progress_message INTEGER,
        progress_language TEXT
    );
    INSERT INTO outbox_items_v7 SELECT * FROM outbox_items;
    CREATE TABLE outbox_v7 (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES outbox_items_v7(id) ON DELETE CASCADE,
        chat_id INTEGER NOT NULL,
        language TEXT NOT NULL DEFAULT 'en',
        text TEXT,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
            ('pending', 'sending', 'sent', 'blocked', 'failed', 'dropped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at TEXT NOT NULL,
        sent_at TEXT,
        error TEXT,
        UNIQUE (item_id, chat_id)
    );
    INSERT INTO outbox_v7 SELECT * FROM outbox;
    DROP TABLE outbox;
    DROP TABLE outbox_items;
    ALTER TABLE outbox_items_v7 RENAME TO outbox_items;
    ALTER TABLE outbox_v7 RENAME TO outbox;
    CREATE INDEX outbox_items_state ON outbox_items(state);
    CREATE INDEX outbox_due ON outbox(due_at, id) WHERE state IN ('pending', 'sending');
    CREATE INDEX outbox_chat ON outbox(chat_id) WHERE state IN ('pending', 'sending');
    CREATE INDEX outbox_item_state ON outbox(item_id, state);
    """,
    # 8: a resident's pending /forget: the "Forget me" button works only for the person
    # who asked, only for that prompt (its token), and only for a while.
    """
    CREATE TABLE forget_requests (
        user_id INTEGER PRIMARY KEY REFERENCES residents(user_id) ON DELETE CASCADE,
        token TEXT NOT NULL,                 -- carried by the prompt's buttons; not personal
        asked_at TEXT NOT NULL
    );
    """,
    # 9: indexes for a national roll-out's volumes (bench/scale.py: 200,000 concerns).
    # A concern's first answer is one index seek (staff figures and CSV exports ask it
    # for every concern of a ward or borough), follow-ups find the answers given in a
    # window without grouping every answer ever given, and a ward's concerns are read by
    # date range instead of all of them.
    """
    CREATE INDEX concern_responses ON concern_events(concern_id, changed_at)
        WHERE kind = 'response';
    CREATE INDEX concern_responses_at ON concern_events(changed_at) WHERE kind = 'response';
    CREATE INDEX concerns_ward_created ON concerns(ward_code, created_at);
    """,
    # 10: which staff command menu each staff chat was last sent, so start-up sends only
    # the menus that changed (thousands of setMyCommands took seconds before the first
    # answer; bench/scale.py).
    """
    CREATE TABLE staff_menus (
        user_id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL                 -- a hash of the menu's language and commands
    );
    """,
]


def split_statements(script: str) -> list[str]:
    """Split a script into complete SQL statements (semicolons inside strings are safe)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()[:80]}")
    return statements


async def schema_version(conn: aiosqlite.Connection) -> int:
    row = await (await conn.execute("PRAGMA user_version")).fetchone()
    return int(row[0]) if row else 0


async def apply_migrations(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; returns the version reached."""
    current = await schema_version(conn)
    if current > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"database schema version {current} is newer than this WardVoice knows "
            f"({len(MIGRATIONS)}); upgrade WardVoice"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(MIGRATIONS[version - 1]):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return len(MIGRATIONS)
