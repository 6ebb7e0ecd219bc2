"""Recognise UK postcodes in what residents type.

Residents type "se17pb", " SE1  7PB " or "se1"; lookups need the canonical "SE1 7PB"
or district "SE1". Only the shape is checked (the letter rules of the Royal Mail
format), not whether the postcode exists.
"""

from __future__ import annotations

import re

# Outward code (district): A9, A99, AA9, AA99, A9A, AA9A. The first letter is never
# Q, V or X and the second never I, J or Z. The published rules for a letter after
# the digit are not kept by real districts (W1M, W1Y exist), so any letter goes there.
_OUTWARD = (
    r"(?:"
    r"[A-PR-UWYZ][A-HK-Y]?[0-9][0-9]?"
    r"|[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z]"
    r")"
)
# Inward code: a digit and two letters, never C, I, K, M, O or V.
_INWARD = r"[0-9][ABD-HJLNP-UW-Z]{2}"

_FULL = re.compile(rf"(?:({_OUTWARD})({_INWARD})|(GIR)(0AA))")
_DISTRICT = re.compile(_OUTWARD)


def normalise_postcode(text: str) -> str | None:
    """Canonical "SE1 7PB" for a full postcode in any spacing or case, else None."""
    compact = "".join(text.split()).upper()
    m = _FULL.fullmatch(compact)
    if m is None:
        return None
    outward = m.group(1) or m.group(3)
    inward = m.group(2) or m.group(4)
    return f"{outward} {inward}"


def looks_like_outcode(text: str) -> str | None:
    """Canonical "SE1" when the text is a postcode district alone, else None.

    A district has no space inside: "SE1 7" is half a postcode, not district SE17.
    """
    district = text.strip().upper()
    return district if _DISTRICT.fullmatch(district) else None
