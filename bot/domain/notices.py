"""Messages to a list of people, through the outbox: answers to concerns, status news,
"we did" entries to instant subscribers.

Each becomes one outbox item with a row per person, so a crash after the staff action
was saved still delivers it, a resident who blocked the bot does not stop the others,
and nobody is told twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.clock import Clock, to_iso
from bot.render import Html
from storage import outbox, subscriptions
from storage import residents as resident_store
from storage.db import Database
from storage.outbox import Envelope, Recipient

Render = Callable[[str], Html]


async def notify(
    db: Database,
    clock: Clock,
    kind: str,
    user_ids: Iterable[int],
    render: Render,
    *,
    ward_code: str | None = None,
    key: str | None = None,
    by: str = "bot",
    markup: list[list[dict[str, str]]] | None = None,
) -> int:
    """Queue `render(language)` to each person; returns how many rows were queued."""
    people = list(dict.fromkeys(user_ids))
    if not people:
        return 0
    languages = await resident_store.language_of(db, people)
    recipients = [Recipient(u, languages.get(u, "en")) for u in people]
    texts = {lang: str(render(lang)) for lang in {r.language for r in recipients}}
    item_id = await outbox.enqueue(
        db,
        Envelope(
            kind, texts, recipients, key=key, ward_code=ward_code, markup=markup, created_by=by
        ),
        to_iso(clock.now()),
    )
    return 0 if item_id is None else len(recipients)


async def notify_instant_subscribers(
    db: Database,
    clock: Clock,
    ward_code: str,
    render: Render,
    *,
    key: str,
    skip: Iterable[int] = (),
    by: str = "bot",
) -> int:
    """A ward's news to its instant subscribers (weekly ones get it in their digest)."""
    skipped = set(skip)
    people = [
        s.user_id
        for s in await subscriptions.of_ward(db, ward_code, ("instant",))
        if s.user_id not in skipped
    ]
    return await notify(db, clock, "wedid", people, render, ward_code=ward_code, key=key, by=by)
