"""Find a ward by what a resident types: part of its name, misspelt, maybe with a borough.

Residents write "st jamess", "Brixton Windrsh", "Windrush" or "Abbey Barking". We
normalise spelling variants (case, punctuation, "&"/"and", "St"/"Saint", apostrophes)
and score each ward two ways with rapidfuzz:

* the whole typed text against the whole name (catches typos), and
* word by word: every typed word against the ward's name and borough words, scaled
  by how much of the ward's name the words cover (catches parts of names and
  "name + borough").

Scores are vectorised over all wards (a few milliseconds for England and Wales)
because the bot asks on every free-text message whether it was a ward name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from bot.geo.index import Ward

# Below this a match is noise: garbage ("asdfgh", "hello", "my bins") scores under
# it against all England and Wales ward names. Chosen by testing.
MATCH_FLOOR = 80.0
# At or above this the text was almost surely meant as a ward name: typos and whole
# words of a name ("Windrush") score above it, chat words below. Chosen by testing.
CONFIDENT_SCORE = 88.0

# The longest ward name and borough in England and Wales together are 74 characters:
# longer text is a message, not a ward name (and would cost milliseconds to score).
_MAX_QUERY_CHARS = 120

# Scores of inexact matches stop here: 100 means the name itself, which must rank first.
_BEST_INEXACT = 99.0

# Words that carry no identity: "Abbey & Westfield" is found by "abbey westfield".
_NAME_STOPWORDS = frozenset({"and", "the", "of", "on", "in"})
_BOROUGH_STOPWORDS = frozenset({"and", "of", "the", "upon", "city", "county", "on"})
_QUERY_NOISE = frozenset({"ward", "wards"})

# A name word found in many ward names (at least 5, or 0.1 % of them) does not
# identify a ward on its own, nor does any of _GENERIC_WORDS however rare it is in a
# small ward set: typed alone, such words score at most 90 % and are never confident.
_GENERIC_MIN_WARDS = 5
_GENERIC_SHARE = 0.001
_GENERIC_WORDS = frozenset(
    """road street lane avenue way row walk square place court gate park green common
    hill heath wood woods field fields vale valley river side bridge end house town
    village city central centre north south east west upper lower high new old great
    little st""".split()
)
_GENERIC_PENALTY = 0.9

# Borough words help pick among same-named wards ("Abbey Barking") but a borough
# alone ("Lambeth") names no ward: unless the name matched too, its words count for
# less, which keeps a bare borough under the floor.
_BOROUGH_WORD_WEIGHT = 0.85

_APOSTROPHES = re.compile(r"['’‘`´]")
_POSSESSIVE = re.compile(r"['’‘`´]s\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class NameMatch:
    """A ward the typed text may mean, with how well it matched (0..100)."""

    ward: Ward
    score: float


def is_confident(matches: Sequence[NameMatch]) -> bool:
    """Whether the text was meant as a ward name, so the caller may act on it."""
    return bool(matches) and matches[0].score >= CONFIDENT_SCORE


def normalise_name(text: str, *, drop_possessive: bool = False) -> str:
    """Spelling-insensitive form: "St. James's & Co" -> "st jamess and co"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("+", " and ")
    if drop_possessive:
        text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHES.sub("", text)
    words = ["st" if w in ("saint", "st") else w for w in _NON_WORD.sub(" ", text).split()]
    return " ".join(words)


class WardNames:
    """Fuzzy ward-name search over a fixed set of wards."""

    def __init__(self, wards: Sequence[Ward]) -> None:
        self._wards: tuple[Ward, ...] = tuple(wards)
        self._plain = [normalise_name(w.name) for w in self._wards]
        self._bare = [normalise_name(w.name, drop_possessive=True) for w in self._wards]
        # Exact matches: the literal spelling ranks above a match made by dropping
        # possessives ("St James's" typed: St James's before St James).
        self._literal: dict[str, list[int]] = {}
        self._loose: dict[str, list[int]] = {}
        for i, (plain, bare) in enumerate(zip(self._plain, self._bare, strict=True)):
            self._literal.setdefault(plain, []).append(i)
            self._loose.setdefault(bare, []).append(i)

        # Words of every ward in CSR layout over one vocabulary. Word 0 is "", which
        # scores 0 against anything: it stands in for a borough with no usable word.
        vocab: dict[str, int] = {"": 0}
        name_ids: list[int] = []
        name_offsets: list[int] = []
        borough_ids: list[int] = []
        borough_offsets: list[int] = []
        name_df: dict[int, int] = {}
        for ward, bare in zip(self._wards, self._bare, strict=True):
            name_offsets.append(len(name_ids))
            borough_offsets.append(len(borough_ids))
            ids = [vocab.setdefault(w, len(vocab)) for w in _words(bare)] or [0]
            name_ids.extend(ids)
            for word_id in set(ids):
                name_df[word_id] = name_df.get(word_id, 0) + 1
            borough = normalise_name(ward.borough_name, drop_possessive=True).split()
            borough_ids.extend(
                [vocab.setdefault(w, len(vocab)) for w in borough if w not in _BOROUGH_STOPWORDS]
                or [0]
            )
        self._vocab = list(vocab)
        self._name_ids = np.asarray(name_ids, dtype=np.int64)
        self._name_offsets = np.asarray(name_offsets, dtype=np.int64)
        self._borough_ids = np.asarray(borough_ids, dtype=np.int64)
        self._borough_offsets = np.asarray(borough_offsets, dtype=np.int64)
        word_len = np.asarray([len(w) for w in self._vocab], dtype=np.float64)
        self._name_word_len = word_len[self._name_ids]
        name_len = (
            np.add.reduceat(self._name_word_len, self._name_offsets) if self._wards else np.zeros(0)
        )
        self._name_len = np.maximum(name_len, 1.0)
        generic_from = max(_GENERIC_MIN_WARDS, _GENERIC_SHARE * len(self._wards))
        self._generic = np.zeros(len(self._vocab), dtype=bool)
        self._generic[[i for i, n in name_df.items() if i and n >= generic_from]] = True
        self._generic[[i for i, w in enumerate(self._vocab) if w in _GENERIC_WORDS]] = True

    def __len__(self) -> int:
        return len(self._wards)

    def search(self, text: str, limit: int = 5) -> list[NameMatch]:
        """Best matches first, only those at or above MATCH_FLOOR; exact names first."""
        if not self._wards or limit <= 0:
            return []
        plain = _strip_noise(normalise_name(text))
        bare = _strip_noise(normalise_name(text, drop_possessive=True))
        if not bare or len(bare) > _MAX_QUERY_CHARS:
            return []
        # 100 is kept for exact names, so an exact match always outranks a close one.
        scores = np.minimum(self._scores(plain, bare), _BEST_INEXACT)
        exact = np.zeros(len(self._wards), dtype=np.int8)
        for key in (plain, bare):
            exact[self._loose.get(key, [])] = 1
        exact[self._literal.get(plain, [])] = 2
        scores[exact > 0] = 100.0
        # Ties (e.g. every "Abbey") are shown in a stable, readable order.
        order = sorted(
            np.flatnonzero(scores >= MATCH_FLOOR).tolist(),
            key=lambda i: (
                -scores[i],
                -exact[i],
                self._wards[i].name,
                self._wards[i].borough_name,
            ),
        )
        return [NameMatch(self._wards[i], round(float(scores[i]), 1)) for i in order[:limit]]

    def _scores(self, plain: str, bare: str) -> np.ndarray:
        whole = np.maximum(
            process.cdist([plain], self._plain, scorer=fuzz.ratio, workers=1)[0],
            process.cdist([bare], self._bare, scorer=fuzz.ratio, workers=1)[0],
        ).astype(np.float64)

        words = _words(bare) or bare.split()
        # word_scores[q, v]: how well typed word q matches vocabulary word v.
        word_scores = process.cdist(words, self._vocab, scorer=fuzz.ratio, workers=1).astype(
            np.float64
        )
        # Name side: how much of the ward's own name the typed words account for.
        covered = word_scores.max(axis=0)[self._name_ids] * self._name_word_len
        coverage = np.add.reduceat(covered, self._name_offsets) / self._name_len
        # Typed side: each typed word's best match among the ward's name words (or
        # its borough words, worth less unless the name is already matched), averaged
        # weighted by word length.
        borough_worth = np.where(coverage >= 90.0, 1.0, _BOROUGH_WORD_WEIGHT)
        weights = np.asarray([len(w) for w in words], dtype=np.float64)
        typed = np.zeros(len(self._wards))
        for q, row in enumerate(word_scores):
            in_name = np.maximum.reduceat(row[self._name_ids], self._name_offsets)
            in_borough = np.maximum.reduceat(row[self._borough_ids], self._borough_offsets)
            typed += weights[q] * np.maximum(in_name, borough_worth * in_borough)
        typed /= weights.sum()
        # Typed words that only match generic name words ("road") identify nothing.
        specific = weights[~self._generic[word_scores.argmax(axis=1)]].sum() / weights.sum()
        typed *= _GENERIC_PENALTY + (1.0 - _GENERIC_PENALTY) * specific
        by_words = typed * (0.8 + 0.2 * coverage / 100.0)
        return np.maximum(whole, by_words)


def _words(normalised: str) -> list[str]:
    return [w for w in normalised.split() if w not in _NAME_STOPWORDS]


def _strip_noise(text: str) -> str:
    """Drop words like "ward" that residents add but names lack ("Abbey ward")."""
    words = text.split()
    kept = [w for w in words if w not in _QUERY_NOISE]
    return " ".join(kept or words)
