"""Residents name their ward the way they say it; the bot must still find it."""

from __future__ import annotations

import pytest

from bot.geo.boundaries import parse_ward_geojson
from bot.geo.names import (
    CONFIDENT_SCORE,
    MATCH_FLOOR,
    NameMatch,
    WardNames,
    is_confident,
    normalise_name,
)
from tests.realdata import england_wales_wards, london_wards
from tests.synthetic import synthetic_wards_geojson


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> WardNames:
    path = synthetic_wards_geojson(tmp_path_factory.mktemp("names") / "wards.geojson")
    return WardNames([w.ward for w in parse_ward_geojson(path).wards])


@pytest.fixture(scope="module")
def london() -> WardNames:
    return WardNames([w.ward for w in london_wards().wards])


@pytest.fixture(scope="module")
def england_wales() -> WardNames:
    return WardNames([w.ward for w in england_wales_wards().wards])


def _top(matches: list[NameMatch]) -> tuple[str, str]:
    assert matches, "expected at least one match"
    return matches[0].ward.name, matches[0].ward.borough_name


GARBAGE = [
    "asdfgh",
    "hello",
    "qwerty",
    "zzzz",
    "12345",
    "hi",
    "ok",
    "thanks",
    "my bins were not collected",
    "who is my councillor",
    "noise complaint",
    "",
    "   ",
    "!!!",
]


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("St. James's", "st jamess"),
        ("Saint James’s", "st jamess"),
        ("  BOW   east ", "bow east"),
        ("St Mary's & Riverside", "st marys and riverside"),
        ("Bryn-côch", "bryn coch"),
    ],
)
def test_spelling_variants_normalise_to_one_form(typed: str, normalised: str) -> None:
    assert normalise_name(typed) == normalised


# ------------------------------------------------------------------ synthetic


@pytest.mark.parametrize(
    "typed",
    [
        "St Mary's & Riverside",
        "st marys and riverside",
        "Saint Mary's and Riverside",
        "ST. MARY'S  &  RIVERSIDE",
        "st marys & riverside ward",
    ],
)
def test_punctuation_case_and_saint_do_not_matter(synthetic: WardNames, typed: str) -> None:
    matches = synthetic.search(typed)
    assert _top(matches) == ("St Mary's & Riverside", "Northbank")
    assert matches[0].score == 100.0
    assert is_confident(matches)


def test_a_typo_finds_the_closer_of_two_similar_names(synthetic: WardNames) -> None:
    assert _top(synthetic.search("Kingsmeed")) == ("Kingsmead", "Northbank")
    assert _top(synthetic.search("Kingsmer")) == ("Kingsmere", "Northbank")
    exact = synthetic.search("kingsmead")
    assert (exact[0].ward.name, exact[0].score) == ("Kingsmead", 100.0)
    assert all(m.score < 100.0 for m in exact[1:])


def test_a_name_shared_by_two_boroughs_returns_both_to_choose_from(synthetic: WardNames) -> None:
    matches = synthetic.search("Abbey")
    assert [(m.ward.name, m.ward.borough_name, m.score) for m in matches] == [
        ("Abbey", "Northbank", 100.0),
        ("Abbey", "Southbank", 100.0),
    ]


def test_adding_the_borough_picks_one_of_the_same_named_wards(synthetic: WardNames) -> None:
    assert _top(synthetic.search("Abbey Southbank")) == ("Abbey", "Southbank")
    assert _top(synthetic.search("abbey, northbank")) == ("Abbey", "Northbank")
    assert is_confident(synthetic.search("Abbey Southbank"))


def test_part_of_a_name_finds_every_ward_that_has_it(synthetic: WardNames) -> None:
    matches = synthetic.search("Riverside")
    assert {m.ward.name for m in matches} == {"St Mary's & Riverside", "Riverside South"}
    assert all(MATCH_FLOOR <= m.score < 100 for m in matches)


def test_the_limit_caps_the_number_of_matches(synthetic: WardNames) -> None:
    assert len(synthetic.search("Abbey", limit=1)) == 1
    assert synthetic.search("Abbey", limit=0) == []


@pytest.mark.parametrize("typed", GARBAGE)
def test_garbage_matches_no_ward(synthetic: WardNames, typed: str) -> None:
    matches = synthetic.search(typed)
    assert matches == []
    assert not is_confident(matches)


def test_a_long_message_is_not_scored_as_a_ward_name(synthetic: WardNames) -> None:
    message = "Abbey " + "the bins in our street have not been collected for weeks " * 5
    assert synthetic.search(message) == []


def test_an_empty_ward_list_finds_nothing() -> None:
    assert WardNames([]).search("Abbey") == []


# ------------------------------------------------------------------ real data


@pytest.mark.parametrize(
    ("typed", "ward", "borough"),
    [
        ("Brixton Windrsh", "Brixton Windrush", "Lambeth"),
        ("Camden Twn", "Camden Town", "Camden"),
        ("camdn town", "Camden Town", "Camden"),
        ("Windrush", "Brixton Windrush", "Lambeth"),
        ("st katharines wapping", "St Katharine's & Wapping", "Tower Hamlets"),
        ("St Katharine's and Wapping", "St Katharine's & Wapping", "Tower Hamlets"),
        ("heathrow villages", "Heathrow Villages", "Hillingdon"),
        ("streatham st leonards", "Streatham St Leonard's", "Lambeth"),
        ("Figges Marsh", "Figge's Marsh", "Merton"),
        ("Stratford Olympic Prk", "Stratford Olympic Park", "Newham"),
        ("Abbey Barking", "Abbey", "Barking and Dagenham"),
        ("Abbey in Merton", "Abbey", "Merton"),
    ],
)
def test_london_typos_and_parts_of_names_find_the_ward(
    london: WardNames, typed: str, ward: str, borough: str
) -> None:
    matches = london.search(typed)
    assert _top(matches) == (ward, borough)
    assert is_confident(matches), matches[0]


@pytest.mark.parametrize("typed", ["St James's", "st jamess", "St. James", "Saint James's"])
def test_st_jamess_is_found_however_it_is_written(london: WardNames, typed: str) -> None:
    matches = london.search(typed)
    found = {(m.ward.name, m.ward.borough_name) for m in matches if m.score >= CONFIDENT_SCORE}
    assert ("St James's", "Westminster") in found


def test_the_exact_name_ranks_first(london: WardNames) -> None:
    assert _top(london.search("St James's")) == ("St James's", "Westminster")
    assert _top(london.search("St James")) == ("St James", "Waltham Forest")
    assert _top(london.search("Stratford")) == ("Stratford", "Newham")
    assert london.search("Stratford")[1].ward.name == "Stratford Olympic Park"


def test_every_london_ward_name_finds_itself_first(london: WardNames) -> None:
    for record in london_wards().wards:
        matches = london.search(record.name, limit=10)
        assert matches[0].score == 100.0
        assert record.ward in [m.ward for m in matches if m.score == 100.0], record.name


def test_a_partial_name_does_not_outrank_or_equal_an_exact_one(london: WardNames) -> None:
    matches = london.search("Abbey")
    assert [(m.ward.borough_name, m.score) for m in matches[:2]] == [
        ("Barking and Dagenham", 100.0),
        ("Merton", 100.0),
    ]
    assert {m.ward.name for m in matches[2:]} <= {"Abbey Road", "Abbey Wood"}
    assert all(m.score < 100.0 for m in matches[2:])


def test_a_borough_name_alone_is_not_taken_for_a_ward(london: WardNames) -> None:
    assert london.search("Lambeth") == []
    assert london.search("Tower Hamlets") == []


@pytest.mark.parametrize("typed", GARBAGE)
def test_garbage_matches_no_ward_in_england_and_wales(england_wales: WardNames, typed: str) -> None:
    assert england_wales.search(typed) == []


@pytest.mark.parametrize("typed", ["street", "road", "park", "north", "green", "house"])
def test_a_common_word_alone_is_not_confidently_a_ward_in_london(
    london: WardNames, typed: str
) -> None:
    assert not is_confident(london.search(typed))


def test_many_same_named_wards_across_england_and_wales_are_all_offered(
    england_wales: WardNames,
) -> None:
    matches = england_wales.search("Abbey", limit=20)
    boroughs = {m.ward.borough_name for m in matches if m.ward.name == "Abbey"}
    assert len(boroughs) >= 15
    assert all(m.score == 100.0 for m in matches if m.ward.name == "Abbey")


def test_welsh_and_northern_names_with_typos_are_found(england_wales: WardNames) -> None:
    assert _top(england_wales.search("cathays")) == ("Cathays", "Cardiff")
    assert _top(england_wales.search("Deansgte")) == ("Deansgate", "Manchester")
