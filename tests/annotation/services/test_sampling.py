"""Active pair sampling in the lease: the pair whose vote narrows the leaderboard most comes
first, under the same exactly-k and lease rules, at the same query count as uniform."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import cache

from annotation.breaker import redis_breaker
from annotation.models import Annotator, AnnotatorStats, Assignment, Project, Response, Task
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.sampling import (
    sampling_forget,
    sampling_models_pick,
    sampling_pair_pick,
    sampling_partner_pick,
)
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _models(assignment: Assignment) -> set[str]:
    task = assignment.task
    return {task.response_a.model, task.response_b.model}


def _project_with_votes_on_two_pairs(**kwargs) -> Project:
    """Ten items answered by model-0, model-1 and model-2 (a task per pair); the first six
    items have three votes on model-0 vs model-1 and on model-0 vs model-2, none on
    model-1 vs model-2."""
    project = ProjectFactory(annotations_per_task=5, **kwargs)
    import_items(project, 10, responses=3)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r1", "b": other, "choice": choice}
        for i in range(6)
        for other in ("r2", "r3")
        for n, choice in enumerate("abb" if other == "r2" else "aab")
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def test_active_sampling_serves_the_pair_without_votes_first():
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    assignment = assignment_lease(project=project, annotator=make_annotator())
    assert _models(assignment) == {"model-1", "model-2"}


def test_uniform_sampling_keeps_the_queue_order():
    project = _project_with_votes_on_two_pairs()
    assignment = assignment_lease(project=project, annotator=make_annotator())
    assert _models(assignment) == {"model-0", "model-1"}  # the queue's first task


def test_leases_handed_out_count_towards_the_next_pick():
    """Without a refit in between, the pair just served gains games and the scores move on:
    thirty annotators in a row are not all sent to the same pair."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    served = [
        frozenset(_models(assignment_lease(project=project, annotator=make_annotator())))
        for _ in range(30)
    ]
    assert served[0] == {"model-1", "model-2"}
    assert len(set(served)) > 1


def test_an_annotator_gets_every_task_once_and_then_nothing():
    """A pair with nothing left for this annotator falls back to the whole queue."""
    project = ProjectFactory(annotations_per_task=1, sampling="active", explore_share=0.0)
    import_items(project, 4, responses=3)
    annotator = make_annotator()
    seen = []
    while (assignment := assignment_lease(project=project, annotator=annotator)) is not None:
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")
        seen.append(assignment.task_id)
    assert sorted(seen) == sorted(Task.objects.filter(project=project).values_list("pk", flat=True))
    assert set(Task.objects.filter(project=project).values_list("judgment_count", flat=True)) == {1}


def test_active_next_task_costs_the_same_queries_as_uniform(django_assert_num_queries):
    uniform = _project_with_votes_on_two_pairs(slug="uniform")
    active = _project_with_votes_on_two_pairs(slug="active", sampling="active")
    first, second, third, fourth = (make_annotator() for _ in range(4))
    with django_assert_num_queries(5) as counted:
        assignment_lease(project=uniform, annotator=first)
    assignment_lease(project=active, annotator=second)  # fits and caches
    with django_assert_num_queries(len(counted.captured_queries)):
        assignment_lease(project=active, annotator=third)
    # After a report refresh the fit is redone: one aggregate query more, once.
    sampling_forget(project_id=active.pk)
    with django_assert_num_queries(len(counted.captured_queries) + 1):
        assignment_lease(project=active, annotator=fourth)


def test_a_task_knows_its_model_pair_and_a_reimport_keeps_it_true():
    from annotation.models import model_pair_key
    from tests.factories import item_rows

    project = ProjectFactory()
    import_items(project, 1, responses=3)
    assert set(project.tasks.values_list("model_pair", flat=True)) == {
        model_pair_key("model-0", "model-1"),
        model_pair_key("model-0", "model-2"),
        model_pair_key("model-1", "model-2"),
    }
    rows = item_rows(1, responses=3)
    rows[0]["responses"][0]["model"] = "renamed"
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    assert set(project.tasks.values_list("model_pair", flat=True)) == {
        model_pair_key("model-1", "renamed"),
        model_pair_key("model-2", "renamed"),
        model_pair_key("model-1", "model-2"),
    }


# Arena battles: two of the endpoints able to answer now, from the same cached fit.

MODELS = ["model-0", "model-1", "model-2"]


def test_models_pick_on_an_active_project_serves_the_pair_without_votes_first():
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-1", "model-2"}


def test_models_pick_draws_only_among_the_names_given():
    """model-1 vs model-2 would score best, but model-2's endpoint is down."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    picks = {sampling_models_pick(project=project, names=["model-0", "model-1"]) for _ in range(20)}
    assert picks == {("model-0", "model-1"), ("model-1", "model-0")}


def test_models_pick_tries_a_new_endpoint_first():
    """A model with no votes yet has the least known rating: its battles come first."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    picks = [sampling_models_pick(project=project, names=[*MODELS, "newcomer"]) for _ in range(6)]
    assert all("newcomer" in pick for pick in picks)
    # against each of the others in turn, its battles counted in the cached fit
    assert {name for pick in picks for name in pick} == {*MODELS, "newcomer"}


def test_models_pick_reads_votes_even_when_no_task_is_open():
    """Every task is done: the lease path has nothing to order, the arena still scores pairs
    (model-0 won all its games, so its battles teach little; the close pair comes first)."""
    project = ProjectFactory(annotations_per_task=3, sampling="active", explore_share=0.0)
    import_items(project, 2, responses=3)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": a, "b": b, "choice": choice}
        for i in range(2)
        for a, b, choices in (("r1", "r2", "aaa"), ("r1", "r3", "aaa"), ("r2", "r3", "abb"))
        for n, choice in enumerate(choices)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    Task.objects.filter(project=project).update(judgment_count=3)  # all done
    assert sampling_pair_pick(project=project) is None
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-1", "model-2"}


def test_models_pick_fits_once_then_moves_with_each_battle(django_assert_num_queries):
    """One aggregate query for the fit, then none: each battle counts as a game of its pair,
    so thirty battles in a row are not all the same pair."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    with django_assert_num_queries(1):
        served = [frozenset(sampling_models_pick(project=project, names=MODELS))]
    with django_assert_num_queries(0):
        served += [
            frozenset(sampling_models_pick(project=project, names=MODELS)) for _ in range(29)
        ]
    assert served[0] == {"model-1", "model-2"}
    assert len(set(served)) == 3


def test_models_pick_on_a_uniform_project_draws_every_pair_without_a_query(
    django_assert_num_queries,
):
    project = _project_with_votes_on_two_pairs()
    with django_assert_num_queries(0):
        picks = [sampling_models_pick(project=project, names=MODELS) for _ in range(300)]
    assert all(first != second and {first, second} <= set(MODELS) for first, second in picks)
    pairs = [frozenset(pick) for pick in picks]
    assert len(set(pairs)) == 3
    assert min(pairs.count(pair) for pair in set(pairs)) > 60  # 100 expected each
    assert {pick[0] for pick in picks} == set(MODELS)  # either side, not name order


def test_models_pick_draws_uniformly_while_redis_fails(monkeypatch):
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)

    def refuse(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "get", refuse)
    try:
        pairs = {frozenset(sampling_models_pick(project=project, names=MODELS)) for _ in range(60)}
        assert redis_breaker.is_open
    finally:
        redis_breaker.reset()
    assert len(pairs) == 3  # not only the active choice, model-1 vs model-2


def test_models_pick_needs_two_distinct_names():
    project = _project_with_votes_on_two_pairs(sampling="active")
    with pytest.raises(ValueError, match="two distinct"):
        sampling_models_pick(project=project, names=["model-0", "model-0"])


def test_partner_pick_on_an_active_project_faces_the_least_measured_model():
    """model-0 has eighteen votes against model-1 and model-2 each, none against the
    newcomer: when one side of a battle with model-0 is drawn again, the newcomer comes."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    picks = {
        sampling_partner_pick(project=project, fixed="model-0", names=[*MODELS, "newcomer"])
        for _ in range(5)
    }
    assert picks == {"newcomer"}


def test_partner_pick_on_an_active_project_prefers_the_unmeasured_pair():
    """Against model-1 the pair never compared (model-2) comes before model-0."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    assert sampling_partner_pick(project=project, fixed="model-1", names=MODELS) == "model-2"


def test_partner_pick_on_a_uniform_project_draws_every_other_name_without_a_query(
    django_assert_num_queries,
):
    project = _project_with_votes_on_two_pairs()
    with django_assert_num_queries(0):
        picks = [
            sampling_partner_pick(project=project, fixed="model-0", names=MODELS)
            for _ in range(200)
        ]
    assert set(picks) == {"model-1", "model-2"}
    assert min(picks.count(name) for name in set(picks)) > 60  # 100 expected each


def test_partner_pick_needs_another_name():
    project = _project_with_votes_on_two_pairs(sampling="active")
    with pytest.raises(ValueError, match="other than the fixed"):
        sampling_partner_pick(project=project, fixed="model-0", names=["model-0"])


def _judge_votes_on_model_1_vs_2(project: Project) -> None:
    """Forty model-judge verdicts on model-1 vs model-2, the pair humans never compared."""
    rows = [
        {"annotator": f"judge{n}", "annotator_kind": "model", "item": f"q{i}", "a": "r2"}
        | {"b": "r3", "choice": "a"}
        for i in range(10)
        for n in range(4)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def test_judge_verdicts_do_not_count_as_the_leaderboards_votes():
    """The default leaderboard is the humans': forty judge verdicts on a pair leave it the
    pair humans need most, in the lease and in the arena."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    _judge_votes_on_model_1_vs_2(project)
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-1", "model-2"}
    sampling_forget(project_id=project.pk)
    assignment = assignment_lease(project=project, annotator=make_annotator())
    assert _models(assignment) == {"model-1", "model-2"}


def test_votes_on_an_answer_that_named_its_model_do_not_count():
    """The leaderboard leaves out votes on a task showing a response flagged identity_leak;
    so does the fit. model-1 vs model-2 gets 12 votes (fewest, so first), then model-1's
    answers to the items behind all 18 votes on model-0 vs model-1 turn out to name it:
    that pair has no vote left and comes first."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r2", "b": "r3", "choice": choice}
        for i in range(6, 10)
        for n, choice in enumerate("abb")
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-1", "model-2"}
    Response.objects.filter(
        item__project=project, item__external_id__in=[f"q{i}" for i in range(6)], model="model-1"
    ).update(identity_leak=True)
    sampling_forget(project_id=project.pk)
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-0", "model-1"}


def test_votes_of_flagged_or_blocked_annotators_do_not_count():
    """The default leaderboard leaves out annotators flagged in the project or blocked; so
    does the fit: their votes on model-1 vs model-2 leave it the pair people need most."""
    project = _project_with_votes_on_two_pairs(sampling="active", explore_share=0.0)
    rows = [
        {"annotator": name, "item": f"q{i}", "a": "r2", "b": "r3", "choice": "a"}
        for i in range(10)
        for name in ("clicker", "spammer")
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    clicker = Annotator.objects.get(external_id="clicker")
    AnnotatorStats.objects.create(project=project, annotator=clicker, flags=["too_fast"])
    Annotator.objects.filter(external_id="spammer").update(is_blocked=True)
    assert set(sampling_models_pick(project=project, names=MODELS)) == {"model-1", "model-2"}
