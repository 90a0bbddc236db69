"""Arena safety (README, Arena safety): which annotator prompts reach the models, and which
answers give their model away.

`arena_prompt_admit` refuses a prompt that is empty, too long, holds a term of the project's
blocklist, or comes from an annotator or a client address that already sent
`arena_prompts_per_hour` prompts within the hour; `response_identity_leak_flag` flags an
answer that names its own model or vendor, so that the vote on it (no longer blind) is left
out of the leaderboard and the exports unless asked for.

The hourly limits are counted in the database (ArenaPromptAdmission, one row per prompt let
through), not in Redis: a prompt costs two model generations, so three small indexed
queries are nothing beside it; the count is exact over the last hour (no fixed windows that
let twice the limit through across a boundary); it stays right while Redis is down, where a
cache counter behind the circuit breaker would have to either let every prompt through (the
abuse the limit exists to stop) or refuse every one (an arena down with Redis); and
concurrent prompts of one annotator or address are serialised by advisory locks on
PostgreSQL, so a script firing many at once gets no more than the limit.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from annotation.errors import ArenaPromptRefused
from annotation.models import Annotator, ArenaPromptAdmission, ModelEndpoint, Project, Response
from annotation.pg import is_postgresql
from annotation.services.crowd import client_key

#: The longest prompt (in characters) an annotator may send in one turn.
ARENA_PROMPT_MAX_CHARS = 10_000
#: The window `arena_prompts_per_hour` counts over.
PROMPT_WINDOW = timedelta(hours=1)
#: Names shorter than this are not looked for in answers (a one-letter endpoint name would
#: flag every answer holding that letter as a word).
MIN_IDENTITY_TERM_LENGTH = 2

# Scripts written without spaces between words: a term in them is found anywhere, since
# "whole word" has no boundary to stand on there.
_UNSPACED_SCRIPTS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables (spaced, but words take particles: find anywhere)
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B-F and compatibility supplement
)
# Between the words of a term: any run of spaces, hyphens or underscores, or none, so that
# "GPT 4o", "gpt-4o" and "GPT4o" are one name.
_SEPARATOR = re.compile(r"[\s_\-]+")
_FLEXIBLE_SEPARATOR = r"[\s_\-]*"


def _unspaced(character: str) -> bool:
    code = ord(character)
    return any(start <= code <= end for start, end in _UNSPACED_SCRIPTS)


def _normalised(text: str) -> str:
    """The text as terms are looked for in it: compatibility forms folded (full-width
    letters, ligatures), invisible format characters (zero-width spaces and joiners, soft
    hyphens) dropped, and case folded (so "STRASSE" finds "straße")."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", visible.casefold())


def _term_words(term: str) -> list[str]:
    return [word for word in _SEPARATOR.split(_normalised(term).strip()) if word]


def _term_pattern(words: list[str]) -> str:
    """The regular expression of one term: whole words (no letter or digit just before or
    after it) unless it starts or ends in a script written without spaces."""
    body = _FLEXIBLE_SEPARATOR.join(map(re.escape, words))
    start = "" if _unspaced(words[0][0]) else r"(?<!\w)"
    end = "" if _unspaced(words[-1][-1]) else r"(?!\w)"
    return f"{start}{body}{end}"


# Trie nodes: a dict from the next character (or _GAP, the separator between two words;
# _END, a term ends here) to the node after it.
_GAP, _END = "<gap>", ""


def _trie_pattern(node: dict[str, dict]) -> str:
    """The alternation a trie of terms stands for, sharing their prefixes: the regex engine
    then tries at each position only the terms starting with the character found there,
    not every term (a thousand-term blocklist in ~5 ms on a 10,000-character prompt,
    against ~400 ms as a flat alternation)."""
    branches = [
        (_FLEXIBLE_SEPARATOR if unit == _GAP else re.escape(unit)) + _trie_pattern(child)
        for unit, child in sorted(node.items())
        if unit != _END
    ]
    if not branches:
        return ""
    if len(branches) == 1 and _END not in node:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if _END in node else "")


@lru_cache(maxsize=256)
def _terms_regex(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for the terms: those of spaced scripts as one trie between word
    boundaries, any other with its own boundaries (_term_pattern)."""
    trie: dict[str, dict] = {}
    own: set[str] = set()
    for term in terms:
        words = _term_words(term)
        if not words:
            continue
        if _unspaced(words[0][0]) or _unspaced(words[-1][-1]):
            own.add(_term_pattern(words))
            continue
        node = trie
        for position, word in enumerate(words):
            if position:
                node = node.setdefault(_GAP, {})
            for character in word:
                node = node.setdefault(character, {})
        node[_END] = {}
    patterns = sorted(own, key=len, reverse=True)
    if trie:
        patterns.insert(0, rf"(?<!\w){_trie_pattern(trie)}(?!\w)")
    return re.compile("|".join(patterns)) if patterns else None


def text_names_any(text: str, terms: Iterable[str]) -> bool:
    """Whether `text` holds one of `terms` as whole words, in any case or Unicode form
    (README, Arena safety, says exactly how terms are matched)."""
    regex = _terms_regex(tuple(terms))
    return regex is not None and regex.search(_normalised(text)) is not None


# ---------------------------------------------------------------- prompts


def _minutes_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds() / 60))


def _limit_refusal(code: str, message: str, first: datetime, now: datetime) -> ArenaPromptRefused:
    """A 429 saying when the oldest prompt counted leaves the window."""
    free_at = first + PROMPT_WINDOW
    return ArenaPromptRefused(
        code,
        message,
        status=429,
        retry_after=max(1, math.ceil((free_at - now).total_seconds())),
    )


def _hold_prompt_locks(project: Project, annotator: Annotator, key: str) -> None:
    """PostgreSQL: wait for any other prompt of this annotator or address in this project
    to be counted (until the end of the transaction); the annotator's lock always first, so
    two prompts never wait for each other. SQLite has a single writer: nothing to do."""
    if not is_postgresql():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), %s::int4),"
            " pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
            [
                f"arena-prompt-annotator:{project.pk}",
                annotator.pk % 2**31,
                f"arena-prompt-address:{project.pk}",
                key,
            ],
        )


def _prompt_checked(project: Project, prompt: object) -> None:
    """The refusals that need no count: an empty, over-long or blocklisted prompt."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ArenaPromptRefused("empty", _("Your prompt is empty. Write a prompt first."))
    if len(prompt) > ARENA_PROMPT_MAX_CHARS:
        raise ArenaPromptRefused(
            "too_long",
            _("Your prompt is too long: at most %(limit)s characters, it has %(length)s.")
            % {"limit": ARENA_PROMPT_MAX_CHARS, "length": len(prompt)},
        )
    if project.prompt_blocklist and text_names_any(prompt, project.prompt_blocklist):
        raise ArenaPromptRefused(
            "blocked",
            _(
                "This prompt was refused: it contains a word or phrase this project does not "
                "accept. Please write a different prompt."
            ),
        )
    if project.arena_prompts_per_hour == 0:
        raise ArenaPromptRefused("closed", _("This project is not taking new prompts."), status=403)


def arena_prompt_admit(
    *,
    project: Project,
    annotator: Annotator,
    address: str,
    prompt: str,
    now: datetime | None = None,
) -> None:
    """Let an annotator's arena prompt through, or raise ArenaPromptRefused saying why.

    Refused: an empty prompt or one over ARENA_PROMPT_MAX_CHARS (400), one holding a term
    of the project's `prompt_blocklist` (400), any prompt when `arena_prompts_per_hour` is 0
    (403), and a prompt from an annotator, or a client `address`, that sent
    `arena_prompts_per_hour` prompts to this project within the last hour (429, with
    `retry_after`). A prompt let through is counted; a refused one is not. Call it before
    asking the models, in the transaction that stores the prompt if there is one (the count
    then goes with it)."""
    _prompt_checked(project, prompt)
    now = now or timezone.now()
    limit = project.arena_prompts_per_hour
    key = client_key(address)
    with transaction.atomic():
        _hold_prompt_locks(project, annotator, key)
        mine, same_address = Q(annotator=annotator), Q(client_key=key)
        counted = ArenaPromptAdmission.objects.filter(
            mine | same_address, project=project, created_at__gt=now - PROMPT_WINDOW
        ).aggregate(
            by_annotator=Count("pk", filter=mine),
            by_address=Count("pk", filter=same_address),
            first_by_annotator=Min("created_at", filter=mine),
            first_by_address=Min("created_at", filter=same_address),
        )
        if counted["by_annotator"] >= limit:
            minutes = _minutes_until(counted["first_by_annotator"] + PROMPT_WINDOW, now)
            raise _limit_refusal(
                "annotator_limit",
                ngettext(
                    "You have sent %(limit)s prompts in the last hour, the most this project "
                    "takes. Please try again in %(minutes)s minute.",
                    "You have sent %(limit)s prompts in the last hour, the most this project "
                    "takes. Please try again in %(minutes)s minutes.",
                    minutes,
                )
                % {"limit": limit, "minutes": minutes},
                counted["first_by_annotator"],
                now,
            )
        if counted["by_address"] >= limit:
            minutes = _minutes_until(counted["first_by_address"] + PROMPT_WINDOW, now)
            raise _limit_refusal(
                "address_limit",
                ngettext(
                    "Too many prompts have come from your network in the last hour. Please "
                    "try again in %(minutes)s minute.",
                    "Too many prompts have come from your network in the last hour. Please "
                    "try again in %(minutes)s minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                counted["first_by_address"],
                now,
            )
        ArenaPromptAdmission.objects.create(
            project=project, annotator=annotator, client_key=key, created_at=now
        )


def arena_prompt_admissions_prune(*, now: datetime | None = None) -> int:
    """Delete the counted prompts that left the hour (nothing counts them any more) and
    answer how many; beat calls it, so the table holds about an hour of prompts. One
    DELETE: the table it scans is small once pruned, and the limits' indexes lead with the
    project, so they would not help a cut across projects."""
    cutoff = (now or timezone.now()) - PROMPT_WINDOW
    deleted, _by_model = ArenaPromptAdmission.objects.filter(created_at__lte=cutoff).delete()
    return deleted


# ---------------------------------------------------------------- answers


def identity_terms(endpoint: ModelEndpoint) -> list[str]:
    """What an answer of this endpoint's model would call itself: its aliases, the endpoint
    name, the model id and the model id's last path part ("meta-llama/Llama-3-8B" gives
    "Llama-3-8B"); names under MIN_IDENTITY_TERM_LENGTH characters are left out."""
    model = endpoint.model or ""
    candidates = [
        *(alias for alias in endpoint.aliases or [] if isinstance(alias, str)),
        endpoint.name,
        model,
        model.rsplit("/", 1)[-1],
    ]
    terms: list[str] = []
    for term in candidates:
        term = (term or "").strip()
        if len(term) >= MIN_IDENTITY_TERM_LENGTH and term not in terms:
            terms.append(term)
    return terms


def response_identity_leak_flag(*, response: Response, endpoint: ModelEndpoint) -> bool:
    """Whether the answer names its own model or vendor (identity_terms of the endpoint
    that wrote it, matched as whole words in any case); stored on the response as
    `identity_leak` (cleared if the text no longer does) and returned. Votes on a task with
    a flagged response leave the leaderboard and the exports by default."""
    leaked = text_names_any(response.text or "", identity_terms(endpoint))
    response.identity_leak = leaked
    if response.pk is not None:
        Response.objects.filter(pk=response.pk).update(identity_leak=leaked)
    return leaked
