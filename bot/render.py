"""HTML rendering for Telegram's HTML parse mode, with escaping built in.

Every reply is HTML. Templates are our own trusted strings; every value put into one is
escaped unless it is already `Html` (something this module rendered). Callers therefore
never escape by hand, and user-supplied text can never inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any


class Html(str):
    """A string that is already safe HTML for Telegram."""

    __slots__ = ()


def escape(value: Any) -> Html:
    """Escape any value for Telegram HTML (`<`, `>`, `&` and quotes)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def fill(template: str, values: Mapping[str, Any]) -> Html:
    """Put escaped values into a trusted `{name}` template."""
    if not values:
        return Html(template)
    return Html(template.format_map({key: escape(val) for key, val in values.items()}))


def join(parts: Iterable[Any], separator: str = "\n") -> Html:
    """Join pieces, escaping any that are not already `Html`."""
    return Html(separator.join(escape(part) for part in parts))


def bold(value: Any) -> Html:
    return Html(f"<b>{escape(value)}</b>")


def italic(value: Any) -> Html:
    return Html(f"<i>{escape(value)}</i>")
