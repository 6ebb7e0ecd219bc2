"""The weekly "you said, we did" digest, per ward, to its weekly subscribers.

Each subscriber gets the entries recorded since their own last digest (their
`digest_after` watermark: a new subscriber starts from the moment they subscribed), and
nothing at all when nothing is new. A ward's run for a slot is one transaction: the
outbox item keyed `digest:WARD:SLOT`, the advanced watermarks and the ward's mark. Once
every ward has its mark for a slot, a mark for the whole bot (scope '') says so, and the
job does nothing more until the next slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

from bot.clock import to_iso
from bot.i18n import t, tn
from bot.render import Html, join
from bot.services import Services
from storage import schedules as store
from storage import subscriptions
from storage.outbox import Envelope, Recipient
from storage.outcomes import Outcome

SHOWN = 10  # entries in one digest; the rest are counted (Telegram's 4,096 characters)
MAX_ENTRY = 300  # characters of each side of an entry


def latest_slot(now: datetime, tz: tzinfo, weekday: int, hour: int, minute: int) -> datetime:
    """The most recent digest moment at or before `now` (local wall time, DST-safe)."""
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = datetime.combine(day, time(hour, minute), tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), time(hour, minute), tzinfo=tz)
    return slot.astimezone(UTC)


def _short(text: str) -> str:
    return text if len(text) <= MAX_ENTRY else text[: MAX_ENTRY - 1] + "…"


def render(language: str, ward_name: str, entries: list[Outcome]) -> Html:
    lines = [
        t(language, "🗓 <b>{ward}: you said, we did</b>", ward=ward_name),
        tn(
            language,
            "One thing done since your last digest:",
            "{count} things done since your last digest:",
            len(entries),
            count=len(entries),
        ),
    ]
    for entry in entries[:SHOWN]:
        lines.append(
            join(
                [
                    t(language, "• You said: {said}", said=_short(entry.you_said)),
                    t(
                        language,
                        "  We did: {did} ({day})",
                        did=_short(entry.we_did),
                        day=entry.action_date,
                    ),
                ]
            )
        )
    if len(entries) > SHOWN:
        lines.append(t(language, "…and {count} more: see /priorities.", count=len(entries) - SHOWN))
    lines.append(t(language, "<i>Weekly digest. /updates to change or stop.</i>"))
    return join(lines, "\n\n")


async def run(services: Services) -> int:
    """Queue this slot's digest for every ward that has not had it; returns rows queued."""
    settings = services.settings
    now = services.clock.now()
    weekday, hour, minute = settings.digest_slot
    slot = to_iso(latest_slot(now, settings.tz, weekday, hour, minute))
    db = services.db
    # Every ward done for this slot (the ward marks are the record; this one only spares
    # the look at thousands of them every minute of the week).
    everywhere = await store.mark(db, "digest")
    if everywhere is not None and everywhere >= slot:
        return 0
    done = await store.marks(db, "digest")
    queued = 0
    for ward_code in await subscriptions.wards_with_weekly(db):
        if done.get(ward_code, "") >= slot:
            continue
        queued += await prepare(services, ward_code, slot, now)
    await store.set_mark(db, "digest", "", slot)
    return queued


async def prepare(services: Services, ward_code: str, slot: str, now: datetime) -> int:
    """One ward's digest for `slot`: each weekly subscriber's entries, queued in one
    transaction with their watermarks and the ward's mark; returns rows queued."""
    db = services.db
    subscribers = await subscriptions.of_ward(db, ward_code, ("weekly",))
    if not subscribers:
        return 0
    entries = await store.outcomes_after(
        db, ward_code, min(s.digest_after for s in subscribers), slot
    )
    ward_name = services.wards.name_of(ward_code)
    recipients: list[Recipient] = []
    covered: list[tuple[int, int]] = []
    for subscriber in subscribers:
        mine = [e for e in entries if e.id > subscriber.digest_after]
        if not mine:
            continue
        text = render(subscriber.language, ward_name, mine)
        recipients.append(Recipient(subscriber.user_id, subscriber.language, str(text)))
        covered.append((subscriber.user_id, mine[-1].id))
    envelope = (
        Envelope("digest", {}, recipients, key=f"digest:{ward_code}:{slot}", ward_code=ward_code)
        if recipients
        else None
    )
    await store.record_digest(db, ward_code, slot, envelope, covered, to_iso(now))
    return len(recipients)
