"""Concern and priority categories: stable codes in the database, translated labels on screen."""

from __future__ import annotations

from bot.i18n import N_

CATEGORIES: dict[str, str] = {
    "asb": N_("Anti-social behaviour"),
    "vandalism": N_("Vandalism and graffiti"),
    "vehicle": N_("Vehicle crime"),
    "drugs": N_("Drugs"),
    "burglary": N_("Burglary"),
    "noise": N_("Noise"),
    "roads": N_("Road safety"),
    "street": N_("Street environment (litter, abandoned vehicles)"),
    "other": N_("Other"),
}


def is_category(code: str) -> bool:
    return code in CATEGORIES
