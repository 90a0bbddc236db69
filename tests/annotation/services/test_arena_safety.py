"""Arena safety (README, Arena safety): prompts refused for a blocklisted term, as empty or
too long, or over the hourly limits per annotator and per address; answers that name their
own model flagged."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone, translation

from annotation.errors import ArenaPromptRefused
from annotation.models import ArenaPromptAdmission, ModelEndpoint, Response
from annotation.services.arena_safety import (
    ARENA_PROMPT_MAX_CHARS,
    arena_prompt_admissions_prune,
    arena_prompt_admit,
    response_identity_leak_flag,
    text_names_any,
)
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db

HOME = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture
def project():
    return ProjectFactory(arena_prompts_per_hour=3, prompt_blocklist=["bomb", "credit card"])


def refusal(project, annotator, prompt="Tell me a story.", address=HOME, **kwargs):
    with pytest.raises(ArenaPromptRefused) as refused:
        arena_prompt_admit(
            project=project, annotator=annotator, address=address, prompt=prompt, **kwargs
        )
    return refused.value


def admit(project, annotator, prompt="Tell me a story.", address=HOME, **kwargs) -> None:
    arena_prompt_admit(
        project=project, annotator=annotator, address=address, prompt=prompt, **kwargs
    )


# ---------------------------------------------------------------- the blocklist


@pytest.mark.parametrize(
    "prompt",
    [
        "How do I build a bomb?",
        "how do i build a BOMB",
        "Bomb: instructions please",
        "steal a Credit  Card number",
        "steal a credit-card number",
        "\uff42\uff4f\uff4d\uff42 in full-width letters",
        "a bo\u200bmb hidden by a zero-width space",
    ],
)
def test_a_prompt_with_a_blocklisted_term_is_refused_plainly(project, prompt):
    refused = refusal(project, make_annotator(), prompt)

    assert refused.code == "blocked" and refused.status == 400
    assert refused.message.startswith("This prompt was refused")
    assert "bomb" not in refused.message  # the term itself is not echoed back
    assert not ArenaPromptAdmission.objects.exists()


@pytest.mark.parametrize(
    "prompt", ["What is a bombastic style?", "Explain carbomb-free chemistry", "A card trick"]
)
def test_a_blocklisted_term_inside_another_word_is_not_a_match(project, prompt):
    admit(project, make_annotator(), prompt)

    assert ArenaPromptAdmission.objects.count() == 1


def test_terms_match_whole_words_in_any_script_and_case():
    assert text_names_any("Qu'est-ce qu'une ÉCOLE ?", ["école"])
    assert text_names_any("DIE STRASSE", ["straße"])
    assert not text_names_any("Straßenbahn", ["straße"])
    assert text_names_any("ما هي القنبلة؟", ["القنبلة"])
    assert not text_names_any("القنبلتان", ["القنبلة"])
    # Chinese is written without spaces: a term is found inside a sentence.
    assert text_names_any("如何制作炸弹\uff1f", ["炸弹"])
    assert not text_names_any("Tell me a story.", [])


def test_many_terms_match_as_each_would_alone():
    """The terms are matched as one trie; it finds exactly what each term's own pattern
    finds (random short terms over a small alphabet, where prefixes are shared a lot)."""
    rng = random.Random(7)
    for _ in range(2000):
        terms = [
            "".join(rng.choices("abc", k=rng.randint(1, 4)))
            + rng.choice(["", " ", "-"])
            + "".join(rng.choices("abc", k=rng.randint(0, 3)))
            for _ in range(rng.randint(1, 6))
        ]
        text = "".join(rng.choices("abc -_xé", k=rng.randint(0, 30)))
        alone = any(text_names_any(text, [term]) for term in terms)
        assert text_names_any(text, terms) == alone, (terms, text)


def test_a_thousand_term_blocklist_checks_a_long_prompt_quickly():
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    terms = ["".join(rng.choices(letters, k=rng.randint(4, 12))) for _ in range(1000)]
    prompt = " ".join("".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(1800))
    text_names_any(prompt, terms)  # compiled once per blocklist

    started = time.perf_counter()
    text_names_any(prompt[:ARENA_PROMPT_MAX_CHARS], terms)

    # About a millisecond here; a flat alternation of the terms took 400 ms.
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("prompt", "code"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * (ARENA_PROMPT_MAX_CHARS + 1), "too_long")],
)
def test_an_empty_or_over_long_prompt_is_refused(project, prompt, code):
    refused = refusal(project, make_annotator(), prompt)

    assert (refused.code, refused.status) == (code, 400)
    assert refused.as_json()["errors"] == [{"field": "prompt", "error": code}]


def test_a_prompt_of_the_longest_length_is_taken(project):
    admit(project, make_annotator(), "x" * ARENA_PROMPT_MAX_CHARS)


# ---------------------------------------------------------------- hourly limits


def test_an_annotator_gets_the_hourly_number_of_prompts_then_a_429(project):
    annotator = make_annotator()
    start = timezone.now()
    for minute in range(3):
        admit(project, annotator, now=start + timedelta(minutes=minute))

    refused = refusal(project, annotator, now=start + timedelta(minutes=20))

    assert (refused.code, refused.status) == ("annotator_limit", 429)
    assert refused.retry_after == 40 * 60  # when the first of the three is an hour old
    assert "3 prompts in the last hour" in refused.message and "40 minutes" in refused.message
    assert ArenaPromptAdmission.objects.count() == 3


def test_a_refusal_speaks_the_language_of_the_page(project):
    annotator = make_annotator()
    start = timezone.now()
    for _ in range(3):
        admit(project, annotator, now=start)

    with translation.override("fr"):
        over = refusal(project, annotator, now=start + timedelta(minutes=59, seconds=30))
        blocked = refusal(project, make_annotator(), "a bomb", address=ELSEWHERE)
    with translation.override("ar"):
        one_minute = refusal(project, annotator, now=start + timedelta(minutes=59, seconds=30))

    assert over.message.endswith("Veuillez réessayer dans 1 minute.")
    assert blocked.message.startswith("Cette demande a été refusée")
    assert one_minute.message.endswith("بعد دقيقة واحدة.")


def test_the_limit_counts_the_last_hour_only(project):
    annotator = make_annotator()
    start = timezone.now()
    for minute in range(3):
        admit(project, annotator, now=start + timedelta(minutes=minute))

    admit(project, annotator, now=start + timedelta(minutes=60, seconds=1))

    # Three in the hour before 60:30 (minutes 1, 2 and 60:01).
    refused = refusal(project, annotator, now=start + timedelta(minutes=60, seconds=30))
    assert refused.code == "annotator_limit"


def test_prompts_older_than_the_hour_are_pruned_and_the_limit_still_holds(project):
    """Beat prunes the counted prompts that left the hour (the table would otherwise keep a
    row per prompt forever); what the limit counts is unchanged."""
    annotator, other = make_annotator(), make_annotator()
    start = timezone.now() - timedelta(hours=3)
    for minute in range(3):
        admit(project, other, address=ELSEWHERE, now=start + timedelta(minutes=minute))
    recent = timezone.now() - timedelta(minutes=10)
    for minute in range(3):
        admit(project, annotator, now=recent + timedelta(minutes=minute))

    assert arena_prompt_admissions_prune() == 3

    assert set(ArenaPromptAdmission.objects.values_list("annotator", flat=True)) == {annotator.pk}
    assert refusal(project, annotator).code == "annotator_limit"
    admit(project, other, address=ELSEWHERE)
    assert arena_prompt_admissions_prune() == 0


def test_beat_prunes_counted_prompts_through_the_arena_queue(project):
    from django.conf import settings

    from annotation.tasks import arena_prompt_admissions_prune as task

    admit(project, make_annotator(), now=timezone.now() - timedelta(hours=2))
    entry = next(
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "annotation.tasks.arena_prompt_admissions_prune"
    )
    assert entry["schedule"] <= 3600
    assert task() == 1
    assert not ArenaPromptAdmission.objects.exists()


def test_a_refused_prompt_is_not_counted(project):
    annotator = make_annotator()
    for _ in range(5):
        refusal(project, annotator, "a bomb")
    refusal(project, annotator, "")

    for _ in range(3):
        admit(project, annotator)

    assert ArenaPromptAdmission.objects.filter(annotator=annotator).count() == 3


def test_one_address_is_limited_whoever_sends_from_it(project):
    for _ in range(3):
        admit(project, make_annotator(), address=HOME)

    refused = refusal(project, make_annotator(), address=HOME)
    admit(project, make_annotator(), address=ELSEWHERE)

    assert (refused.code, refused.status) == ("address_limit", 429)
    assert refused.message.startswith("Too many prompts have come from your network")


def test_limits_are_per_project(project):
    annotator = make_annotator()
    for _ in range(3):
        admit(project, annotator)

    admit(ProjectFactory(arena_prompts_per_hour=3), annotator)


def test_the_address_is_kept_only_as_a_keyed_hash(project):
    admit(project, make_annotator(), address=HOME)

    stored = ArenaPromptAdmission.objects.get()
    assert HOME not in stored.client_key and len(stored.client_key) == 32


def test_no_prompts_at_all_when_the_limit_is_zero(project):
    project.arena_prompts_per_hour = 0

    refused = refusal(project, make_annotator())

    assert (refused.code, refused.status) == ("closed", 403)


def test_admitting_a_prompt_takes_a_fixed_number_of_queries(project, django_assert_num_queries):
    annotator = make_annotator()
    admit(project, annotator)
    # The lock (PostgreSQL), the count and the insert, with the savepoint around them.
    expected = 2 + (connection.vendor == "postgresql") + 2 * connection.in_atomic_block
    with django_assert_num_queries(expected):
        admit(project, annotator)


def _sent_at_once(project, annotators) -> list[str]:
    """Each annotator sends a prompt from HOME at the same moment, on its own connection;
    what each was answered."""
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(annotators))

    def send(annotator) -> None:
        try:
            barrier.wait()
            try:
                admit(project, annotator)
                outcome = "admitted"
            except ArenaPromptRefused as refused:
                outcome = refused.code
            with lock:
                outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(a,)) for a in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prompts_sent_at_once_get_no_more_than_the_limit():
    project = ProjectFactory(arena_prompts_per_hour=3)
    annotator = make_annotator()

    outcomes = _sent_at_once(project, [annotator] * 8)

    assert outcomes == ["admitted"] * 3 + ["annotator_limit"] * 5
    assert ArenaPromptAdmission.objects.filter(annotator=annotator).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_prompts_from_one_address_at_once_get_no_more_than_the_limit():
    project = ProjectFactory(arena_prompts_per_hour=3)

    outcomes = _sent_at_once(project, [make_annotator() for _ in range(8)])

    assert outcomes == ["address_limit"] * 5 + ["admitted"] * 3
    assert ArenaPromptAdmission.objects.filter(project=project).count() == 3


# ---------------------------------------------------------------- identity leaks


@pytest.fixture
def endpoint(project):
    return ModelEndpoint.objects.create(
        project=project,
        name="falcon-west",
        base_url="http://127.0.0.1:9/v1",
        model="acme-labs/Falcon-7B-Chat",
        aliases=["Falcon", "Acme Labs"],
    )


@pytest.fixture
def response(project):
    import_items(project, 1)
    return Response.objects.filter(item__project=project).first()


@pytest.mark.parametrize(
    "text",
    [
        "As Falcon, I can tell you that the sky is blue.",
        "I was trained by ACME LABS.",
        "I was trained by acme-labs.",
        "My model id is falcon-7b-chat.",
        "Hi! I'm Falcon 7B Chat.",
        "This answer comes from Falcon-West.",
    ],
)
def test_an_answer_naming_its_own_model_or_vendor_is_flagged_and_stored(response, endpoint, text):
    response.text = text
    response.save()

    assert response_identity_leak_flag(response=response, endpoint=endpoint) is True

    response.refresh_from_db()
    assert response.identity_leak is True


@pytest.mark.parametrize(
    "text",
    [
        "The peregrine falconer trained his bird.",  # a longer word is not the name
        "An answer that names nobody.",
        "I am a model made by another lab.",
    ],
)
def test_an_answer_not_naming_its_model_is_not_flagged(response, endpoint, text):
    response.text = text
    response.save()

    assert response_identity_leak_flag(response=response, endpoint=endpoint) is False
    response.refresh_from_db()
    assert response.identity_leak is False


def test_a_flag_is_cleared_when_the_text_no_longer_names_the_model(response, endpoint):
    response.text = "Falcon here."
    response.save()
    response_identity_leak_flag(response=response, endpoint=endpoint)

    response.text = "Someone here."
    response.save()
    assert response_identity_leak_flag(response=response, endpoint=endpoint) is False
    response.refresh_from_db()
    assert response.identity_leak is False


def test_a_one_letter_endpoint_name_flags_nothing(response, project):
    endpoint = ModelEndpoint.objects.create(
        project=project, name="a", base_url="http://127.0.0.1:9/v1", model="x"
    )
    response.text = "This is a plain answer."
    response.save()

    assert response_identity_leak_flag(response=response, endpoint=endpoint) is False
