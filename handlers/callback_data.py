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


WARD_PICK = CallbackFormat("ward:pick:{code}", rf"ward:pick:(?P<code>{WARD_CODE})")
WARD_CHANGE = CallbackFormat("ward:change", r"ward:change")
PRIORITIES_SHOW = CallbackFormat("prio:show", r"prio:show")

ALL_FORMATS: tuple[CallbackFormat, ...] = (WARD_PICK, WARD_CHANGE, PRIORITIES_SHOW)


def is_unknown(data: object) -> bool:
    """True for data no format of ours produces (forged, from an old version, or garbage)."""
    return all(fmt.parse(data) is None for fmt in ALL_FORMATS)
