"""Every callback-data format the bot puts on a button, built and parsed here only.

Callback data comes back from the client and can be anything (FIELD-NOTES): each format
is an anchored pattern, a button is only built from values that match it, and a press
whose data matches no pattern is refused without touching anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

MAX_BYTES = 64  # Telegram's limit for callback data
WARD_CODE = r"[A-Z][0-9]{8}"


@dataclass(frozen=True)
class CallbackFormat:
    template: str  # str.format template, e.g. "ward:pick:{code}"
    regex: str  # the same shape as a regular expression with named groups

    @property
    def pattern(self) -> re.Pattern[str]:
        """Anchored at both ends (`\\Z`, not `$`, which would allow a trailing newline)."""
        return _compiled(self.regex)

    def build(self, **values: str) -> str:
        data = self.template.format(**values)
        if self.parse(data) is None or len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data {data!r} does not fit its own format")
        return data

    def parse(self, data: object) -> dict[str, str] | None:
        if not isinstance(data, str):
            return None
        match = self.pattern.match(data)
        return None if match is None else match.groupdict()


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(rf"\A(?:{regex})\Z")


DRAFT_KEY = r"[2-9A-HJKMNP-Z]{8}"
CONCERN_REF = r"WV-[2-9A-HJKMNP-Z]{5}"

WARD_PICK = CallbackFormat("ward:pick:{code}", rf"ward:pick:(?P<code>{WARD_CODE})")
WARD_CHANGE = CallbackFormat("ward:change", r"ward:change")
PRIORITIES_SHOW = CallbackFormat("prio:show", r"prio:show")

# The concern conversation: every button names its draft, so a button left on an earlier
# concern's message is recognised as stale instead of acting on the current draft.
CONCERN_CATEGORY = CallbackFormat(
    "concern:cat:{key}:{category}", rf"concern:cat:(?P<key>{DRAFT_KEY}):(?P<category>[a-z]{{2,12}})"
)
CONCERN_SKIP = CallbackFormat(
    "concern:skip:{key}:{step}", rf"concern:skip:(?P<key>{DRAFT_KEY}):(?P<step>place|photo)"
)
CONCERN_CHANGE = CallbackFormat(
    "concern:change:{key}:{step}",
    rf"concern:change:(?P<key>{DRAFT_KEY}):(?P<step>category|text|place|photo)",
)
CONCERN_SEND = CallbackFormat("concern:send:{key}", rf"concern:send:(?P<key>{DRAFT_KEY})")
CONCERN_CANCEL = CallbackFormat("concern:cancel:{key}", rf"concern:cancel:(?P<key>{DRAFT_KEY})")
CONCERN_ME_TOO = CallbackFormat(
    "concern:metoo:{key}:{ref}", rf"concern:metoo:(?P<key>{DRAFT_KEY}):(?P<ref>{CONCERN_REF})"
)
STAFF_WARD = CallbackFormat("staff:ward:{code}", rf"staff:ward:(?P<code>{WARD_CODE})")
STAFF_SWITCH = CallbackFormat("staff:switch", r"staff:switch")
STAFF_PRIORITIES = CallbackFormat("staff:prio:{code}", rf"staff:prio:(?P<code>{WARD_CODE})")
STAFF_RETIRE = CallbackFormat("staff:retire:{id}", r"staff:retire:(?P<id>[0-9]{1,9})")
STAFF_CONCERNS = CallbackFormat("staff:concerns:{code}", rf"staff:concerns:(?P<code>{WARD_CODE})")
STAFF_CATEGORY = CallbackFormat(
    "staff:cat:{code}:{category}", rf"staff:cat:(?P<code>{WARD_CODE}):(?P<category>[a-z]{{2,12}})"
)
STAFF_CONCERN = CallbackFormat("staff:c:{id}", r"staff:c:(?P<id>[0-9]{1,9})")
STAFF_STATUS = CallbackFormat(
    "staff:st:{id}:{status}", r"staff:st:(?P<id>[0-9]{1,9}):(?P<status>reviewed|closed)"
)
STAFF_TEMPLATE = CallbackFormat("staff:tpl:{id}", r"staff:tpl:(?P<id>[0-9]{1,9})")
STAFF_LINK = CallbackFormat(
    "staff:link:{id}:{priority}", r"staff:link:(?P<id>[0-9]{1,9}):(?P<priority>[0-9]{1,9})"
)
STAFF_HIDE = CallbackFormat("staff:hide:{id}", r"staff:hide:(?P<id>[0-9]{1,9})")
STAFF_BLOCK = CallbackFormat("staff:block:{id}", r"staff:block:(?P<id>[0-9]{1,9})")
STAFF_MEETINGS = CallbackFormat("staff:meet:{code}", rf"staff:meet:(?P<code>{WARD_CODE})")
MEETING_CANCEL = CallbackFormat("staff:meetx:{id}", r"staff:meetx:(?P<id>[0-9]{1,9})")
STATS_SHOW = CallbackFormat("staff:stats:{code}", rf"staff:stats:(?P<code>{WARD_CODE})")
MY_CONCERNS_PAGE = CallbackFormat("mine:page:{page}", r"mine:page:(?P<page>[0-9]{1,4})")
MY_CONCERN_OPEN = CallbackFormat("mine:open:{ref}", rf"mine:open:(?P<ref>{CONCERN_REF})")

# Delivery: /updates choices, broadcast preview, follow-up ratings.
UPDATES_SET = CallbackFormat("upd:{mode}", r"upd:(?P<mode>off|instant|weekly)")
BROADCAST_SEND = CallbackFormat("bc:send:{id}", r"bc:send:(?P<id>[0-9]{1,9})")
BROADCAST_CANCEL = CallbackFormat("bc:cancel:{id}", r"bc:cancel:(?P<id>[0-9]{1,9})")
RATE = CallbackFormat("rate:{id}:{score}", r"rate:(?P<id>[0-9]{1,9}):(?P<score>[1-5])")

# /language: the code is checked against the shipped catalogs again when pressed.
LANGUAGE_SET = CallbackFormat("lang:{lang}", r"lang:(?P<lang>[a-z]{2,3})")

# Agenda votes. A voter's button says what it does (pick or drop an item), so a double tap
# asks for the same thing twice. Staff buttons name the vote; the role is checked on it.
VOTE_ID = r"[0-9]{1,9}"
VOTE_PICK = CallbackFormat(
    "vote:{id}:{position}:{chosen}",
    rf"vote:(?P<id>{VOTE_ID}):(?P<position>[1-9]|10):(?P<chosen>[01])",
)
VOTE_SET = CallbackFormat(
    "vt:set:{id}:{setting}:{value}",
    rf"vt:set:(?P<id>{VOTE_ID}):(?P<setting>meeting|picks|places|close|audience)"
    r":(?P<value>[0-9]{1,9}|ward_youth|borough_youth|residents)",
)
VOTE_OPEN = CallbackFormat("vt:open:{id}", rf"vt:open:(?P<id>{VOTE_ID})")
VOTE_DISCARD = CallbackFormat("vt:drop:{id}", rf"vt:drop:(?P<id>{VOTE_ID})")
VOTE_DRAFT = CallbackFormat("vt:draft:{id}", rf"vt:draft:(?P<id>{VOTE_ID})")
VOTE_CLOSE_ASK = CallbackFormat("vt:close:{id}", rf"vt:close:(?P<id>{VOTE_ID})")
VOTE_CLOSE = CallbackFormat("vt:closenow:{id}", rf"vt:closenow:(?P<id>{VOTE_ID})")
VOTE_CHART = CallbackFormat("vt:chart:{id}", rf"vt:chart:(?P<id>{VOTE_ID})")
STAFF_VOTES = CallbackFormat("staff:votes:{code}", rf"staff:votes:(?P<code>{WARD_CODE})")

# Data rights: /forget's two buttons carry only its prompt's random key; whose prompt it
# is lives in the database and is checked against whoever presses.
FORGET_CONFIRM = CallbackFormat("forget:yes:{key}", rf"forget:yes:(?P<key>{DRAFT_KEY})")
FORGET_KEEP = CallbackFormat("forget:no:{key}", rf"forget:no:(?P<key>{DRAFT_KEY})")

ALL_FORMATS: tuple[CallbackFormat, ...] = (
    FORGET_CONFIRM,
    FORGET_KEEP,
    VOTE_PICK,
    VOTE_SET,
    VOTE_OPEN,
    VOTE_DISCARD,
    VOTE_DRAFT,
    VOTE_CLOSE_ASK,
    VOTE_CLOSE,
    VOTE_CHART,
    STAFF_VOTES,
    UPDATES_SET,
    BROADCAST_SEND,
    BROADCAST_CANCEL,
    RATE,
    LANGUAGE_SET,
    WARD_PICK,
    WARD_CHANGE,
    PRIORITIES_SHOW,
    CONCERN_CATEGORY,
    CONCERN_SKIP,
    CONCERN_CHANGE,
    CONCERN_SEND,
    CONCERN_CANCEL,
    CONCERN_ME_TOO,
    MY_CONCERNS_PAGE,
    MY_CONCERN_OPEN,
    STAFF_WARD,
    STAFF_SWITCH,
    STAFF_PRIORITIES,
    STAFF_RETIRE,
    STAFF_CONCERNS,
    STAFF_CATEGORY,
    STAFF_CONCERN,
    STAFF_STATUS,
    STAFF_TEMPLATE,
    STAFF_LINK,
    STAFF_HIDE,
    STAFF_BLOCK,
    STAFF_MEETINGS,
    MEETING_CANCEL,
    STATS_SHOW,
)
CONCERN_FORMATS = (
    CONCERN_CATEGORY,
    CONCERN_SKIP,
    CONCERN_CHANGE,
    CONCERN_SEND,
    CONCERN_CANCEL,
    CONCERN_ME_TOO,
)


def is_concern_button(data: object) -> bool:
    return any(fmt.parse(data) is not None for fmt in CONCERN_FORMATS)


def is_unknown(data: object) -> bool:
    """True for data no format of ours produces (forged, from an old version, or garbage)."""
    return all(fmt.parse(data) is None for fmt in ALL_FORMATS)
