"""Residents type postcodes every which way; the bot must recognise them."""

from __future__ import annotations

import csv

import pytest

from bot.geo.postcodes import looks_like_outcode, normalise_postcode
from tests.realdata import LONDON_DISTRICTS, LONDON_POSTCODES, shared_file
from tests.synthetic import SYNTHETIC_POSTCODES


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        (" se17pb ", "SE1 7PB"),
        ("SE1 7PB", "SE1 7PB"),
        ("se1   7pb", "SE1 7PB"),
        ("se1 7 pb", "SE1 7PB"),
        ("sw1a1aa", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("W1M 0DT", "W1M 0DT"),
        ("gir0aa", "GIR 0AA"),
        ("GIR 0AA", "GIR 0AA"),
    ],
)
def test_a_full_postcode_typed_any_way_is_recognised_in_canonical_form(
    typed: str, canonical: str
) -> None:
    assert normalise_postcode(typed) == canonical


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "hello",
        "SE1",  # a district, not a full postcode
        "SE17",
        "SE1 7P",
        "SE1 7PBX",
        "Q1 1AA",  # areas never start with Q, V or X
        "X1 1AA",
        "AJ1 1AA",  # second letter never I, J or Z
        "SE1 7PC",  # the inward letters never include C, I, K, M, O or V
        "SE1 7IB",
        "1SE 7PB",
        "SE1-7PB",
        "GIR 0AB",
        "my postcode is SE1 7PB",
    ],
)
def test_text_that_is_not_a_full_postcode_is_not_mistaken_for_one(typed: str) -> None:
    assert normalise_postcode(typed) is None


@pytest.mark.parametrize(
    ("typed", "district"),
    [("se1", "SE1"), (" SE17 ", "SE17"), ("sw1a", "SW1A"), ("ec1a", "EC1A"), ("M1", "M1")],
)
def test_a_postcode_district_alone_is_recognised_as_an_outcode(typed: str, district: str) -> None:
    assert looks_like_outcode(typed) == district


@pytest.mark.parametrize("typed", ["SE1 7PB", "se17pb", "hello", "", "Q1", "12", "SE1 7"])
def test_full_postcodes_and_words_are_not_outcodes(typed: str) -> None:
    assert looks_like_outcode(typed) is None


def test_the_made_up_test_postcodes_have_a_valid_shape() -> None:
    for postcode, *_ in SYNTHETIC_POSTCODES:
        assert normalise_postcode(postcode) == postcode


def test_every_real_london_sample_postcode_is_recognised_as_written() -> None:
    with shared_file(LONDON_POSTCODES).open(encoding="utf-8") as f:
        postcodes = [row["postcode"] for row in csv.DictReader(f)]
    assert len(postcodes) == 1408
    rejected = [p for p in postcodes if normalise_postcode(p) != p]
    assert rejected == []
    squashed = [p for p in postcodes if normalise_postcode(p.replace(" ", "").lower()) != p]
    assert squashed == []


def test_every_real_london_postcode_district_is_recognised_as_an_outcode() -> None:
    with shared_file(LONDON_DISTRICTS).open(encoding="utf-8") as f:
        outcodes = [row["outcode"] for row in csv.DictReader(f)]
    assert len(outcodes) == 330
    assert [o for o in outcodes if looks_like_outcode(o.lower()) != o] == []
