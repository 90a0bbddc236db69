"""The statistics report on real projects, checked against the methods' worked examples."""

from __future__ import annotations

import random

import numpy as np
import pytest

from annotation.models import (
    AgreementReport,
    Annotator,
    AnnotatorStats,
    Judgment,
    Project,
    Task,
    TaskLabel,
)
from annotation.selectors.reports import report_is_stale
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import (
    leaderboard_current,
    report_compute,
    report_current,
)
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 coders x 12 units
# example with missing values: alpha = 0.743 nominal, 0.815 ordinal, 0.849 interval.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}

# Fleiss (1971) as given on Wikipedia ("Fleiss' kappa", worked example): 10 subjects rated by
# 14 raters into 5 categories; kappa = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def _rubric_project(n_units: int, level: str) -> Project:
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="code", min=1, max=5, level=level)
    rows = [
        {"id": f"u{i + 1}", "prompt": f"unit {i + 1}", "responses": [{"model": "m", "text": "x"}]}
        for i in range(n_units)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def krippendorff_rows() -> list[dict]:
    return [
        {"annotator": coder, "item": f"u{unit + 1}", "response": "r1", "scores": {"code": value}}
        for coder, values in KRIPPENDORFF_2011.items()
        for unit, value in enumerate(values)
        if value is not None
    ]


def fleiss_rows() -> list[dict]:
    rows = []
    for subject, counts in enumerate(FLEISS_COUNTS):
        rater = 0
        for category, count in enumerate(counts, start=1):
            for _ in range(count):
                rater += 1
                rows.append(
                    {
                        "annotator": f"rater{rater}",
                        "item": f"u{subject + 1}",
                        "response": "r1",
                        "scores": {"code": category},
                    }
                )
    return rows


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_worked_example(level, expected):
    project = _rubric_project(12, level)
    judgments_import(project=project, rows=list(enumerate(krippendorff_rows(), 1)))
    report = report_compute(project=project, n_boot=200).report
    alpha = report["criteria"]["code"]["krippendorff_alpha"]
    assert alpha["level"] == level
    assert alpha["value"] == pytest.approx(expected, abs=5e-4)
    assert alpha["ci"][0] <= alpha["value"] <= alpha["ci"][1]
    assert report["criteria"]["code"]["n_annotators"] == 4


def test_fleiss_worked_example():
    project = _rubric_project(10, "nominal")
    judgments_import(project=project, rows=list(enumerate(fleiss_rows(), 1)))
    entry = report_compute(project=project, n_boot=200).report["criteria"]["code"]
    assert entry["fleiss_kappa"]["value"] == pytest.approx(0.210, abs=5e-4)
    assert entry["n_items"] == 10 and entry["n_judgments"] == 140


def _simulate_pairwise(project: Project, *, annotators: dict[str, float], seed: int = 1) -> None:
    """Annotators of known accuracy vote on every task; the better model is model-0."""
    rng = random.Random(seed)
    rows = []
    for task in project.tasks.select_related("item", "response_a", "response_b"):
        a, b = task.response_a, task.response_b
        truth = "a" if a.model < b.model else "b"
        for name, accuracy in annotators.items():
            if accuracy < 0:  # always the first-listed response: a position clicker
                choice = "a"
            else:
                choice = truth if rng.random() < accuracy else {"a": "b", "b": "a"}[truth]
            rows.append(
                {
                    "annotator": name,
                    "item": task.item.external_id,
                    "a": a.external_id,
                    "b": b.external_id,
                    "choice": choice,
                }
            )
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


def test_pairwise_report_ranks_models_and_labels_tasks():
    project = ProjectFactory(allow_tie=True)
    import_items(project, 40, responses=3)
    _simulate_pairwise(project, annotators={"good1": 0.9, "good2": 0.85, "good3": 0.8, "spam": 0.5})
    stored = report_compute(project=project, n_boot=200)
    board = stored.leaderboard["results"]
    assert [row["model"] for row in board] == ["model-0", "model-1", "model-2"]
    assert board[0]["ci"][0] <= board[0]["rating"] <= board[0]["ci"][1]
    assert stored.leaderboard["win_rate"]["model-0"]["model-2"] > 0.5
    overall = stored.report["criteria"]["overall"]
    assert overall["n_items"] == 120 and overall["n_annotators"] == 4
    assert set(overall) >= {
        "krippendorff_alpha",
        "fleiss_kappa",
        "cohen_kappa_mean",
        "gwet_ac1",
        "percent_agreement",
    }
    assert TaskLabel.objects.filter(task__project=project).count() == 120
    assert stored.report["transitivity"]["triads_checked"] == 1


def test_model_judges_are_reported_against_the_human_majority():
    project = ProjectFactory()
    import_items(project, 30)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.9, "h3": 0.9})
    rows = [
        {
            "annotator": "gpt-judge",
            "annotator_kind": "model",
            "item": t.item.external_id,
            "a": t.response_a.external_id,
            "b": t.response_b.external_id,
            "choice": "a" if i % 2 else "b",
        }
        for i, t in enumerate(project.tasks.select_related("item", "response_a", "response_b"))
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    report = report_compute(project=project, n_boot=50).report
    judges = report["model_judges"]
    assert [j["annotator"] for j in judges] == ["gpt-judge"]
    # The humans (90% accurate) nearly always pick a; the judge picks a on every other task.
    assert 0.35 < judges[0]["agreement_with_human_majority"] < 0.65
    assert report["criteria"]["overall"]["n_annotators"] == 3  # humans only


def test_per_annotator_figures():
    project = ProjectFactory()
    import_items(project, 30)
    _simulate_pairwise(project, annotators={"h1": 0.95, "h2": 0.95, "h3": 0.95, "bad": 0.0})
    annotators = {
        a["annotator"]: a for a in report_compute(project=project, n_boot=20).report["annotators"]
    }
    assert annotators["h1"]["agreement_with_others"] > 0.8
    assert annotators["bad"]["agreement_with_others"] < 0.2
    assert annotators["bad"]["judgments"] == 30


def test_reports_become_stale_when_votes_arrive_and_history_is_kept():
    project = ProjectFactory()
    import_items(project, 5)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.9})
    first = report_compute(project=project, n_boot=10)
    assert not report_is_stale(project=project, report=first)
    _simulate_pairwise(project, annotators={"h3": 0.9})
    assert report_is_stale(project=project, report=first)
    current, stale, failure = report_current(project=project)  # eager: recomputed on demand
    assert not stale and current.pk != first.pk and failure is None
    assert AgreementReport.objects.filter(project=project).count() == 2


def test_rubric_report_has_one_entry_per_criterion_and_no_leaderboard():
    project = _rubric_project(12, "ordinal")
    CriterionFactory(project=project, key="other", min=0, max=4)
    judgments_import(
        project=project,
        rows=list(
            enumerate(
                [
                    r | {"scores": {"code": r["scores"]["code"], "other": 2}}
                    for r in krippendorff_rows()
                ],
                1,
            )
        ),
    )
    stored = report_compute(project=project, n_boot=20)
    assert set(stored.report["criteria"]) == {"code", "other"}
    assert stored.leaderboard is None


def test_with_strength_overall_is_ordinal_and_the_bare_choice_is_reported_too():
    project = ProjectFactory(strength_scale=3)
    import_items(project, 10)
    rows = [
        {
            "annotator": f"h{k}",
            "item": t.item.external_id,
            "a": t.response_a.external_id,
            "b": t.response_b.external_id,
            "choice": "a",
            "strength": 1 + (k + i) % 3,
        }
        for i, t in enumerate(project.tasks.select_related("item", "response_a", "response_b"))
        for k in range(3)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    criteria = report_compute(project=project, n_boot=20).report["criteria"]
    assert criteria["overall"]["krippendorff_alpha"]["level"] == "ordinal"
    assert criteria["choice"]["percent_agreement"]["value"] == 1.0


def test_conflicts_between_the_choice_and_the_criteria_are_counted():
    project = ProjectFactory()
    CriterionFactory(project=project, key="honesty")
    import_items(project, 4)
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a",
            "criteria": {"honesty": "b" if (i == 0 and k == 0) else "a"},
        }
        for i in range(4)
        for k in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    consistency = report_compute(project=project, n_boot=10).report["consistency"]
    assert consistency == {"conflicts": 1, "checked": 8}


def _judge(project: Project, task: Task, annotator: Annotator, choice: str, **fields) -> None:
    Judgment.objects.create(
        project=project, task=task, annotator=annotator, choice=choice, **fields
    )


def test_per_annotator_figures_are_counted_over_each_annotators_own_judgments():
    project = ProjectFactory()
    import_items(project, 5)
    tasks = list(project.tasks.select_related("response_a", "response_b").order_by("id"))
    ann, bob = (
        Annotator.objects.create(source=Annotator.Source.IMPORT, external_id=name)
        for name in ("ann", "bob")
    )
    # ann: four timed votes (median 3.5 of 1, 3, 4, 9) and one untimed; both sides shown.
    for task, choice, seconds, left in zip(
        tasks,
        ["a", "a", "b", "tie", "b"],
        [4.0, 1.0, None, 9.0, 3.0],
        ["a", "b", "b", "a", None],
        strict=True,
    ):
        shown = {"a": task.response_a, "b": task.response_b, None: None}[left]
        _judge(project, task, ann, choice, seconds=seconds, shown_left=shown)
    # bob: three votes, median of 2, 8, 5 is 5; two gold answers, one right.
    for task, seconds, correct in zip(tasks[:3], [2.0, 8.0, 5.0], [True, False, None], strict=True):
        _judge(
            project,
            task,
            bob,
            "a",
            seconds=seconds,
            is_gold=correct is not None,
            gold_correct=correct,
        )
    rows = {
        r["annotator"]: r for r in report_compute(project=project, n_boot=10).report["annotators"]
    }
    assert rows[ann.public_id]["judgments"] == 5
    assert rows[ann.public_id]["median_seconds"] == 3.5
    # Decided with a known side: a (a left: chose left), a (b left), b (b left: chose left).
    assert rows[ann.public_id]["left_rate"] == pytest.approx(2 / 3)
    assert rows[ann.public_id]["gold_accuracy"] is None
    assert rows[bob.public_id]["median_seconds"] == 5.0
    assert rows[bob.public_id]["gold_accuracy"] == 0.5
    assert rows[bob.public_id]["left_rate"] is None
    assert [r["annotator"] for r in rows.values()] == [ann.public_id, bob.public_id]


# ---------------------------------------------------------------- humans and judges apart


def _judge_every_task(project: Project, name: str, choose) -> None:
    """An imported model judge's verdict on every task: choose(position, task) -> choice."""
    tasks = project.tasks.select_related("item", "response_a", "response_b").order_by("pk")
    rows = [
        {
            "annotator": name,
            "annotator_kind": "model",
            "item": task.item.external_id,
            "a": task.response_a.external_id,
            "b": task.response_b.external_id,
            "choice": choose(position, task),
        }
        for position, task in enumerate(tasks)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


def _worst_first(position: int, task: Task) -> str:
    """A judge that prefers the weaker model (the higher number) every time."""
    return "a" if task.response_a.model > task.response_b.model else "b"


def test_the_leaderboard_counts_people_only_and_each_kind_on_request():
    """Regression: with a judge imported, the leaderboard counted its votes with the
    people's (2,001 where people cast 1,500) and the ratings shrank."""
    project = ProjectFactory()
    import_items(project, 20, responses=3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.85, "h3": 0.8})
    before = report_compute(project=project, n_boot=50).leaderboard
    _judge_every_task(project, "llm", _worst_first)

    stored = report_compute(project=project, n_boot=50)

    assert stored.leaderboard == before
    assert stored.leaderboard["n_votes"] == 3 * 60
    boards = stored.variants["leaderboard"]
    assert boards["model"]["n_votes"] == 60
    assert [row["model"] for row in boards["model"]["results"]] == ["model-2", "model-1", "model-0"]
    assert boards["all"]["n_votes"] == 4 * 60
    spread = {
        name: board["results"][0]["rating"] - board["results"][-1]["rating"]
        for name, board in (("human", stored.leaderboard), ("all", boards["all"]))
    }
    assert spread["all"] < spread["human"]
    # Nobody is flagged: the variants with flagged annotators are the same leaderboards.
    assert boards["human+flagged"] == "human"
    assert boards["model+flagged"] == "model" and boards["all+flagged"] == "all"


def test_the_leaderboard_leaves_out_flagged_and_blocked_annotators_and_gold():
    project = ProjectFactory()
    import_items(project, 10)
    _simulate_pairwise(
        project, annotators={"h1": 0.9, "h2": 0.9, "h3": 0.9, "spam": 0.0, "bot": 0.0}
    )
    spam, bot = (Annotator.objects.get(external_id=name) for name in ("spam", "bot"))
    AnnotatorStats.objects.create(project=project, annotator=spam, flags=["low_agreement"])
    bot.is_blocked = True
    bot.save()
    gold = project.tasks.order_by("pk").first()
    Judgment.objects.filter(task=gold).update(is_gold=True)

    stored = report_compute(project=project, n_boot=20)

    assert stored.leaderboard["n_votes"] == 3 * 9
    everyone = leaderboard_current(project=project, exclude_flagged=False)
    assert everyone["n_votes"] == 5 * 9 and everyone["computed_at"]
    # The agreement report still shows everyone, flags and all.
    rows = {row["annotator"]: row for row in stored.report["annotators"]}
    assert rows[spam.public_id]["flags"] == ["low_agreement"] and len(rows) == 5


def test_leaderboards_with_flagged_annotators_are_fitted_once_when_first_asked_for(monkeypatch):
    from annotation.services import reports
    from annotation.stats import leaderboard

    project = ProjectFactory()
    import_items(project, 8, responses=3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8, "spam": 0.3})
    spam = Annotator.objects.get(external_id="spam")
    AnnotatorStats.objects.create(project=project, annotator=spam, flags=["too_fast"])
    stored = report_compute(project=project, n_boot=30)
    assert set(stored.variants["leaderboard"]["human+flagged"]) == {"counts", "n_boot"}
    fits = []
    fit = reports.leaderboard_from_counts
    monkeypatch.setattr(
        reports, "leaderboard_from_counts", lambda *a, **k: fits.append(1) or fit(*a, **k)
    )

    first = leaderboard_current(project=project, exclude_flagged=False)
    again = leaderboard_current(project=project, exclude_flagged=False)

    assert first == again and len(fits) == 1
    votes = Judgment.objects.filter(project=project).select_related(
        "task__response_a", "task__response_b"
    )
    names = sorted(
        {j.task.response_a.model for j in votes} | {j.task.response_b.model for j in votes}
    )
    code = {name: i for i, name in enumerate(names)}
    expected = leaderboard(
        [code[j.task.response_a.model] for j in votes],
        [code[j.task.response_b.model] for j in votes],
        [{"a": 1.0, "b": 0.0}[j.choice] for j in votes],
        n_models=len(names),
        n_boot=30,
    )
    assert [(r["model"], r["rating"], r["ci"]) for r in first["results"]] == [
        (names[r["model_index"]], r["rating"], r["ci"]) for r in expected["leaderboard"]
    ]


def test_each_model_judge_gets_cohens_kappa_and_percent_agreement_with_the_majority():
    from statsmodels.stats.inter_rater import cohens_kappa

    project = ProjectFactory(allow_tie=True)
    import_items(project, 30, responses=3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.7, "h3": 0.6}, seed=4)
    _judge_every_task(project, "llm", lambda i, task: ("a", "b", "tie", "a", "a")[i % 5])

    (judge,) = report_compute(project=project, n_boot=500).report["model_judges"]

    majority, verdict = {}, {}
    for judgment in Judgment.objects.filter(project=project).select_related("annotator"):
        if judgment.annotator.kind == "model":
            verdict[judgment.task_id] = judgment.choice
        else:
            majority.setdefault(judgment.task_id, []).append(judgment.choice)
    table = np.zeros((3, 3))
    codes = {"a": 0, "b": 1, "tie": 2}
    for task, choices in majority.items():
        counts = sorted(((choices.count(c), c) for c in set(choices)), reverse=True)
        if len(counts) == 1 or counts[0][0] > counts[1][0]:
            table[codes[counts[0][1]], codes[verdict[task]]] += 1
    assert judge["annotator"] == "llm" and judge["n"] == table.sum()
    assert judge["percent_agreement"] == pytest.approx(np.trace(table) / table.sum())
    assert judge["agreement_with_human_majority"] == judge["percent_agreement"]
    kappa = judge["cohen_kappa"]
    assert kappa["value"] == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)
    assert kappa["ci"][0] < kappa["value"] < kappa["ci"][1]


def test_agreement_is_reported_for_people_judges_and_everyone():
    project = ProjectFactory()
    import_items(project, 12, responses=3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8, "h3": 0.7})
    _judge_every_task(project, "llm-1", _worst_first)
    _judge_every_task(project, "llm-2", lambda i, task: _worst_first(i, task) if i % 4 else "a")

    stored = report_compute(project=project, n_boot=20)

    humans, judges, everyone = (
        stored.report,
        stored.variants["report"]["model"],
        stored.variants["report"]["all"],
    )
    assert (humans["annotator_kind"], judges["annotator_kind"]) == ("human", "model")
    assert humans["criteria"]["overall"]["n_annotators"] == 3
    assert judges["criteria"]["overall"]["n_annotators"] == 2
    assert judges["criteria"]["overall"]["percent_agreement"]["value"] == pytest.approx(0.75)
    assert everyone["criteria"]["overall"]["n_annotators"] == 5
    assert {row["kind"] for row in judges["annotators"]} == {"model"}
    assert len(everyone["annotators"]) == 5 and everyone["n_judgments"] == 5 * 36
    # The judges are compared with the people's majority whichever kind is read.
    assert humans["model_judges"] == judges["model_judges"] == everyone["model_judges"]


def test_without_judges_the_other_kinds_are_stored_by_name():
    project = ProjectFactory()
    import_items(project, 5)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8})

    stored = report_compute(project=project, n_boot=10)

    assert stored.variants["report"]["all"] == "human"
    assert stored.variants["report"]["model"]["criteria"]["overall"]["n_judgments"] == 0
    assert stored.variants["leaderboard"] == {
        "model": None,
        "all": "human",
        "human+flagged": "human",
        "model+flagged": "model",
        "all+flagged": "human",
    }


def test_a_pairwise_project_with_criteria_and_no_human_judgment_is_reported():
    """Regression: 'cannot reshape array of size 0', and agreement/ stayed empty."""
    project = ProjectFactory()
    CriterionFactory(project=project, key="honesty")
    import_items(project, 3)
    tasks = project.tasks.select_related("item", "response_a", "response_b")
    rows = [
        {
            "annotator": "llm",
            "annotator_kind": "model",
            "item": task.item.external_id,
            "a": "r1",
            "b": "r2",
            "choice": "a",
            "criteria": {"honesty": "a"},
        }
        for task in tasks
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))

    stored = report_compute(project=project, n_boot=10)

    assert not stored.failed
    assert stored.report["consistency"] == {"conflicts": 0, "checked": 0}
    assert stored.variants["report"]["all"] == "model"
    assert stored.variants["report"]["model"]["consistency"] == {"conflicts": 0, "checked": 3}
    assert stored.report["model_judges"][0]["n"] == 0


# ---------------------------------------------------------------- the audit figure


def _hh_rows(count: int) -> list[dict]:
    """Preference rows in the TRL form: the original dataset prefers `chosen`."""
    return [
        {"prompt": f"Question {i}?", "chosen": f"Good answer {i}", "rejected": f"Bad answer {i}"}
        for i in range(count)
    ]


def test_reference_agreement_is_the_share_of_decided_majorities_equal_to_the_reference():
    project = ProjectFactory(allow_tie=True)
    items_import(project=project, rows=list(enumerate(_hh_rows(10), 1)))
    # People agree with the dataset on 7 items, prefer `rejected` on 2, and tie on one.
    wanted = ["chosen"] * 7 + ["rejected"] * 2 + ["tie"]
    rows = []
    for position, task in enumerate(
        project.tasks.select_related("item", "response_a", "response_b").order_by("pk")
    ):
        side = {"chosen": "a", "rejected": "b", "tie": "tie"}[wanted[position]]
        if task.response_a.external_id != "chosen" and side != "tie":
            side = {"a": "b", "b": "a"}[side]
        rows += [
            {
                "annotator": name,
                "item": task.item.external_id,
                "a": task.response_a.external_id,
                "b": task.response_b.external_id,
                "choice": choice,
            }
            for name, choice in (("h1", side), ("h2", side), ("h3", "tie"))
        ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))

    reference = report_compute(project=project, n_boot=500).report["reference_agreement"]

    assert reference["n"] == 9  # the tied majority is not decided
    assert reference["value"] == pytest.approx(7 / 9)
    assert reference["ci"][0] < 7 / 9 < reference["ci"][1] <= 1.0


def test_reference_agreement_counts_only_tasks_whose_pair_the_reference_names():
    project = ProjectFactory()
    rows = [
        {
            "id": f"q{i}",
            "prompt": "p",
            "responses": [{"id": f"r{j}", "model": f"m{j}", "text": str(j)} for j in (1, 2, 3)],
            "reference": {"preferred": "r1"},
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    _simulate_pairwise(project, annotators={"h1": 1.0, "h2": 1.0, "h3": 1.0})

    reference = report_compute(project=project, n_boot=50).report["reference_agreement"]

    # r1 (model m1) is the best model, so the people agree on (r1, r2) and (r1, r3); the
    # reference says nothing about (r2, r3).
    assert (reference["value"], reference["n"]) == (1.0, 4)


def test_projects_without_references_have_no_reference_agreement():
    project = ProjectFactory()
    import_items(project, 3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.9})
    assert "reference_agreement" not in report_compute(project=project, n_boot=10).report


# ---------------------------------------------------------------- failures


def test_a_failed_computation_is_stored_with_its_error_and_the_last_good_figures_stay(
    monkeypatch,
):
    from annotation.services import reports

    project = ProjectFactory()
    import_items(project, 4)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8})
    good = report_compute(project=project, n_boot=10)
    _simulate_pairwise(project, annotators={"h3": 0.7})

    def broken(*args, **kwargs):
        raise ValueError("cannot reshape array of size 0 into shape (0,newaxis)")

    monkeypatch.setattr(reports, "_transitivity", broken)
    state = report_current(project=project)  # eager: computed here, and failed

    assert state.report.pk == good.pk and state.stale
    assert state.failure.failed and state.failure.report == {}
    assert state.failure.error == (
        "ValueError: cannot reshape array of size 0 into shape (0,newaxis)"
    )
    # The failure covers these judgments: reading again does not compute again.
    assert report_current(project=project).failure.pk == state.failure.pk
    monkeypatch.undo()
    _simulate_pairwise(project, annotators={"h4": 0.7})
    state = report_current(project=project)
    assert state.failure is None and not state.stale and state.report.n_judgments == 16


def test_a_report_from_before_kinds_were_kept_apart_is_stale_for_the_other_kinds():
    from annotation.services.reports import agreement_current

    project = ProjectFactory()
    import_items(project, 4)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8})
    stored = report_compute(project=project, n_boot=10)
    AgreementReport.objects.filter(pk=stored.pk).update(variants={})  # as migration 0013 left it

    people = agreement_current(project=project)
    judges = agreement_current(project=project, annotator_kind="model")
    board = leaderboard_current(project=project, annotator_kind="all")

    assert people["stale"] is False and people["criteria"] == stored.report["criteria"]
    assert judges["stale"] is True and judges["criteria"] == {} and judges["computed_at"]
    assert board["stale"] is True and board["results"] == []


def test_an_unanswered_score_on_a_range_below_zero_is_not_read_as_minus_one():
    """A criterion added after some judgments (their scores lack it) with a range of -2..2:
    the missing scores are no -1s, so the two who answered it agree perfectly."""
    project = _rubric_project(6, "ordinal")
    earlier = [
        {"annotator": "h3", "item": f"u{i + 1}", "response": "r1", "scores": {"code": 3}}
        for i in range(6)
    ]
    judgments_import(project=project, rows=list(enumerate(earlier, 1)))
    CriterionFactory(project=project, key="tone", min=-2, max=2, level="ordinal")
    later = [
        {"annotator": name, "item": f"u{i + 1}", "response": "r1",
         "scores": {"code": 3, "tone": 1}}
        for name in ("h1", "h2")
        for i in range(6)
    ]  # fmt: skip
    judgments_import(project=project, rows=list(enumerate(later, 1)))
    tone = report_compute(project=project, n_boot=20).report["criteria"]["tone"]
    assert tone["percent_agreement"]["value"] == 1.0
    assert tone["n_judgments"] == 12 and tone["n_annotators"] == 2
