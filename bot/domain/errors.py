"""Refusals by the domain rules, carrying a translatable message for the user."""

from __future__ import annotations

from typing import Any


class RuleError(ValueError):
    """A change the rules refuse; `message` is a translatable template, `values` fill it."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values
