"""Listwise rankings: the rules one ranking must follow, wherever it comes from.

A ranking is a list of groups, best first; the names in one group are tied. The names are
screen labels (A, B, C...) in a vote, response ids in an import or a gold answer. The same
check serves all of them, so a gold order, an imported judgment and a vote are refused for
the same reasons, in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: How many responses a ranking item may have (InstructGPT ranked 4 to 9).
MIN_RANKED = 2
MAX_RANKED = 9
#: The screen labels, in the order responses are shown.
LABELS = "ABCDEFGHI"


class RankingInvalid(ValueError):
    """A ranking that breaks a rule; the message names the problem."""


def screen_labels(count: int) -> list[str]:
    """The labels of `count` responses as shown: A, B, C..."""
    return list(LABELS[:count])


def ranking_check(value: Any, *, names: Sequence[str], allow_tie: bool) -> list[list[str]]:
    """The ranking as a list of groups of names, or RankingInvalid naming the problem:
    every name exactly once, no empty group, no group of two or more unless ties are
    allowed. Names given as numbers (a response id 3) are read as their text."""
    if not isinstance(value, list) or not value:
        raise RankingInvalid('must be a non-empty list of groups, best first, e.g. [["A"], ["B"]]')
    known = {str(name) for name in names}
    groups: list[list[str]] = []
    seen: set[str] = set()
    for position, group in enumerate(value, start=1):
        if not isinstance(group, list):
            raise RankingInvalid(f"group {position} must be a list of names")
        if not group:
            raise RankingInvalid(f"group {position} is empty")
        if len(group) > 1 and not allow_tie:
            raise RankingInvalid(f"group {position} ties {len(group)}; this project allows no ties")
        clean: list[str] = []
        for name in group:
            if isinstance(name, bool) or not isinstance(name, str | int):
                raise RankingInvalid(f"group {position} holds {name!r}, not a name")
            text = str(name)
            if text not in known:
                raise RankingInvalid(f"{text!r} is not one of {', '.join(names)}")
            if text in seen:
                raise RankingInvalid(f"{text!r} is ranked twice")
            seen.add(text)
            clean.append(text)
        groups.append(clean)
    missing = [str(name) for name in names if str(name) not in seen]
    if missing:
        raise RankingInvalid(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not ranked"
        )
    return groups


def ranking_translate(ranking: list[list[str]], mapping: dict[str, Any]) -> list[list[Any]]:
    """The same ranking with every name replaced by what `mapping` gives for it (response
    ids), each tie in ascending order: one ranking has one stored form, so two equal
    rankings compare equal."""
    return [sorted(mapping[name] for name in group) for group in ranking]


def ranking_from_ranks(ranks: dict[str, str | None]) -> list[list[str]]:
    """A ranking from a rank given per label (the page's form without scripts: 1 best,
    equal ranks tied). Labels without a rank are left out, so the check names them."""
    placed: dict[int, list[str]] = {}
    for label, raw in ranks.items():
        if raw and raw.isascii() and raw.isdigit():
            placed.setdefault(int(raw), []).append(label)
    return [placed[rank] for rank in sorted(placed)]


def mean_places(rankings: list[list[list[Any]]]) -> list[tuple[Any, float]]:
    """Each ranked name with its mean place over `rankings` (1 = best; tied names share the
    middle of the places they span), best first: what a researcher reads of a task's
    judgments at a glance (the leaderboard's model is the report's)."""
    totals: dict[Any, list[float]] = {}
    for ranking in rankings:
        place = 1
        for group in ranking:
            middle = place + (len(group) - 1) / 2
            for name in group:
                totals.setdefault(name, []).append(middle)
            place += len(group)
    means = [(name, sum(values) / len(values)) for name, values in totals.items()]
    return sorted(means, key=lambda pair: (pair[1], str(pair[0])))


def ranking_text(ranking: list[list[Any]], names: dict[Any, str]) -> str:
    """A ranking as one line, best first: `r3 > r1 = r4 > r2`."""
    return " > ".join(" = ".join(names.get(name, str(name)) for name in group) for group in ranking)
