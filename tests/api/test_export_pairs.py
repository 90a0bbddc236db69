"""Pairs with identity and labels out (README "Exports"): `pair_id` and
retractions in `dpo`, `label=dawid_skene`, and the `labels` export."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotator, Judgment, Project, Task
from annotation.selectors.judgment_table import CHOICES
from annotation.services.importing import items_import
from annotation.services.quality import annotator_block
from annotation.stats import task_labels
from tests.api.test_exports import EXPORT, RUBRIC_EXPORT, import_votes, rows_of, votes
from tests.factories import ProjectFactory, import_items, item_rows

pytestmark = pytest.mark.django_db

LABEL_FIELDS = [
    "pair_id",
    "item_id",
    "a",
    "b",
    "majority",
    "majority_share",
    "ds_label",
    "ds_posterior",
    "n_judgments",
    "adjudicated_label",
    "adjudicated_by",
]


def export(client, export_format: str, url: str = EXPORT, **params) -> list[dict]:
    response = client.get(url, {"format": export_format, **params})
    return rows_of(response, params.get("filetype", "jsonl"))


def dpo(client, **params) -> list[dict]:
    return export(client, "dpo", **params)


def labels(client, **params) -> list[dict]:
    return export(client, "labels", **params)


def last_judgment() -> int:
    return Judgment.objects.latest("pk").pk


SNAPSHOTS = "/api/v1/projects/pairs/snapshots/"


@pytest.fixture
def snapshot(researcher_client, settings, tmp_path, django_capture_on_commit_callbacks):
    """Ask for a snapshot of a query; `build()` of the result runs its queued build."""
    settings.MEDIA_ROOT = tmp_path / "media"

    def ask(query: dict) -> tuple[dict, Callable[[], dict]]:
        with django_capture_on_commit_callbacks() as callbacks:
            response = researcher_client.post(SNAPSHOTS, query, format="json")
        assert response.status_code == 202, response.json()
        created = response.json()

        def build() -> dict:
            for callback in callbacks:
                callback()
            return researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()

        return created, build

    return ask


def snapshot_rows(client, built: dict) -> list[dict]:
    filetype = built["query"]["filetype"]
    return rows_of(client.get(built["download_url"]), filetype)


@pytest.fixture
def pairs(pairwise) -> Project:
    """The pairwise project, allowing 'both bad'."""
    pairwise.allow_both_bad = True
    pairwise.save()
    return pairwise


# ---------------------------------------------------------------- pair identity


def test_every_dpo_row_has_the_pair_id_of_its_task_and_is_not_retracted(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a") + votes("q1", "b"))

    rows = dpo(researcher_client)

    tasks = dict(Task.objects.values_list("item__external_id", "pk"))
    assert [(r["item_id"], r["pair_id"], r["retracted"]) for r in rows] == [
        ("q0", tasks["q0"], False),
        ("q1", tasks["q1"], False),
    ]
    judged = export(researcher_client, "judgments")
    assert {r["task"] for r in judged} == {r["pair_id"] for r in rows}


def test_pair_id_stays_the_same_across_pulls_snapshots_and_a_change_of_winner(
    researcher_client, pairs, snapshot
):
    import_votes(pairs, votes("q0", "a"))
    (first,) = dpo(researcher_client)
    import_votes(pairs, votes("q0", "b", "b", judge="late"))
    (second,) = dpo(researcher_client, filetype="parquet")
    _, build = snapshot({"format": "dpo"})
    (third,) = snapshot_rows(researcher_client, build())

    assert first["pair_id"] == second["pair_id"] == third["pair_id"]
    assert (first["chosen_id"], second["chosen_id"]) == ("r1", "r2")


# ---------------------------------------------------------------- retractions


def test_a_pair_made_undecided_is_retracted_by_a_since_pull(researcher_client, pairs):
    """Regression: a 2-1-1 pair made undecided returned nothing to a `since` pull,
    while the full export silently lost the row."""
    import_votes(pairs, votes("q0", "a", "a", "b", "tie"))
    (before,) = dpo(researcher_client)
    cursor = last_judgment()
    import_votes(pairs, votes("q0", "b", judge="late"))

    rows = dpo(researcher_client, since=str(cursor))

    assert rows == [
        {
            "pair_id": before["pair_id"],
            "prompt": None,
            "chosen": None,
            "rejected": None,
            "chosen_model": None,
            "rejected_model": None,
            "item_id": "q0",
            "chosen_id": None,
            "rejected_id": None,
            "n_judgments": 5,
            "agreement": None,
            "margin": None,
            "source": "pairwise",
            "expand": None,
            "retracted": True,
        }
    ]
    assert dpo(researcher_client) == []


def test_a_full_pull_never_has_retracted_rows(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "b") + votes("q1", "tie") + votes("q2", "a"))

    rows = dpo(researcher_client, min_agreement="0.9")

    assert [(r["item_id"], r["retracted"]) for r in rows] == [("q2", False)]


def test_a_since_pull_retracts_a_pair_that_falls_below_min_agreement(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a") + votes("q1", "a"))
    cursor = last_judgment()
    import_votes(pairs, votes("q0", "b", judge="late") + votes("q1", "a", judge="late"))

    rows = dpo(researcher_client, since=str(cursor), min_agreement="0.8")

    assert [(r["item_id"], r["retracted"]) for r in rows] == [("q0", True), ("q1", False)]


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
def test_a_retraction_keeps_the_schema_of_every_row(researcher_client, pairs, filetype):
    import_votes(pairs, votes("q0", "a") + votes("q1", "a"))
    cursor = last_judgment()
    import_votes(pairs, votes("q0", "b", judge="late") + votes("q1", "a", judge="late"))

    rows = dpo(researcher_client, since=str(cursor), filetype=filetype)

    assert [list(row) for row in rows] == [list(rows[1])] * 2
    written = {"jsonl": (True, False), "parquet": (True, False), "csv": ("True", "False")}
    assert (rows[0]["retracted"], rows[1]["retracted"]) == written[filetype]
    assert rows[0]["chosen"] in (None, "")  # CSV: an empty cell


def apply_pull(copy: dict[int, dict], rows: list[dict]) -> None:
    """What the README tells a pipeline to do with an incremental pull."""
    for row in rows:
        if row["retracted"]:
            copy.pop(row["pair_id"], None)
        else:
            copy[row["pair_id"]] = row


@pytest.mark.parametrize("label", ["majority", "dawid_skene"])
@pytest.mark.parametrize("min_agreement", [None, "0.6"], ids=["all", "clear"])
def test_incremental_pulls_applied_in_turn_end_equal_to_a_full_pull(
    researcher_client, researcher, label, min_agreement
):
    project = ProjectFactory(owner=researcher, slug="pairs", allow_tie=True, allow_both_bad=True)
    import_items(project, 12)
    rng = random.Random(14)
    params = {"label": label} | ({"min_agreement": min_agreement} if min_agreement else {})
    copy: dict[int, dict] = {}
    apply_pull(copy, dpo(researcher_client, **params))
    retracted = 0
    for round_number in range(6):
        cursor = Judgment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        rows = []
        for item in rng.sample(range(12), 5):
            choices = rng.choices(["a", "b", "tie", "both_bad"], weights=[3, 3, 2, 2], k=2)
            rows += votes(f"q{item}", *choices, judge=f"r{round_number}-")
        import_votes(project, rows)

        pulled = dpo(researcher_client, since=str(cursor), **params)
        apply_pull(copy, pulled)
        retracted += sum(row["retracted"] for row in pulled)

        full = dpo(researcher_client, **params)
        assert sorted(copy.values(), key=lambda row: row["pair_id"]) == full
    assert retracted  # the rounds did unmake pairs


def test_incremental_labels_pulls_applied_in_turn_end_equal_to_a_full_pull(
    researcher_client, researcher
):
    """A labels pull with `since` gives the touched tasks and those whose Dawid-Skene label
    or posterior moved (a vote elsewhere changes the annotators' reliability), so upserting
    each pull by pair_id keeps a copy equal to the full export."""
    project = ProjectFactory(owner=researcher, slug="pairs", allow_tie=True, allow_both_bad=True)
    import_items(project, 12)
    rng = random.Random(15)
    copy: dict[int, dict] = {}
    moved_elsewhere = 0
    for round_number in range(6):
        cursor = Judgment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        rows = []
        touched = set()
        for item in rng.sample(range(12), 4):
            choices = rng.choices(["a", "b", "tie", "both_bad"], weights=[3, 3, 2, 2], k=2)
            rows += votes(f"q{item}", *choices, judge=f"r{round_number % 3}-")
            touched.add(f"q{item}")
        import_votes(project, rows)

        pulled = labels(researcher_client, since=str(cursor))
        copy.update((row["pair_id"], row) for row in pulled)
        moved_elsewhere += sum(row["item_id"] not in touched for row in pulled)

        assert sorted(copy.values(), key=lambda row: row["pair_id"]) == labels(researcher_client)
    assert moved_elsewhere  # Dawid-Skene moved labels of tasks nobody voted on


# ---------------------------------------------------------------- label=dawid_skene


def test_dawid_skene_decides_the_pair_and_agreement_is_its_posterior(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "b", "b", "a"))

    rows = dpo(researcher_client, label="dawid_skene")

    by_task = {row["pair_id"]: row for row in labels(researcher_client)}
    assert [row["chosen_id"] for row in rows] == ["r1", "r2"]
    for row in rows:
        label = by_task[row["pair_id"]]
        assert row["agreement"] == label["ds_posterior"]
        assert row["chosen_id"] == label[label["ds_label"]]


def test_dpo_states_its_label_in_a_snapshot_query_and_card(researcher_client, pairs, snapshot):
    import_votes(pairs, votes("q0", "a", "a", "b"))
    _, build_default = snapshot({"format": "dpo"})
    _, build = snapshot({"format": "dpo", "label": "dawid_skene"})
    built = build()

    assert build_default()["query"]["label"] == "majority"
    assert built["query"]["label"] == "dawid_skene"
    assert '| label | "dawid_skene" |' in built["card"]
    assert "Dawid-Skene" in built["card"]
    assert [row["agreement"] for row in snapshot_rows(researcher_client, built)] == [
        row["ds_posterior"] for row in labels(researcher_client)
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"format": "dpo", "label": "mean"}, "label"),
        ({"format": "judgments", "label": "majority"}, "label"),
        ({"format": "labels", "label": "dawid_skene"}, "label"),
        ({"format": "labels", "min_agreement": "0.5"}, "min_agreement"),
        ({"format": "labels", "annotator_kind": "robots"}, "annotator_kind"),
    ],
)
def test_a_label_query_that_does_not_fit_is_a_400_naming_the_field(
    researcher_client, pairs, query, field
):
    response = researcher_client.get(EXPORT, query)

    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]


def crowd(project: Project, *, n_tasks: int, seed: int) -> dict[str, str]:
    """Five annotators per task from a crowd of six careful ones (right 80% of the time) and
    four spammers (a or b at random), two of each task's five being spammers. Returns the
    true winner ("r1" or "r2") of each item."""
    rng = np.random.default_rng(seed)
    truth = {}
    rows = []
    for task in range(n_tasks):
        item = f"q{task}"
        right = int(rng.integers(0, 2))
        truth[item] = ("r1", "r2")[right]
        careful = [f"careful{n}" for n in rng.choice(6, 3, replace=False)]
        spammers = [f"spammer{n}" for n in rng.choice(4, 2, replace=False)]
        for annotator in careful:
            choice = right if rng.random() < 0.8 else 1 - right
            rows.append((annotator, item, choice))
        for annotator in spammers:
            rows.append((annotator, item, int(rng.integers(0, 2))))
    import_votes(
        project,
        [
            {"annotator": name, "item": item, "a": "r1", "b": "r2", "choice": "ab"[choice]}
            for name, item, choice in rows
        ],
    )
    return truth


def accuracy(rows: list[dict], truth: dict[str, str]) -> float:
    return sum(row["chosen_id"] == truth[row["item_id"]] for row in rows) / len(truth)


def test_dawid_skene_pairs_of_a_crowd_with_spammers_are_more_accurate_than_majority_ones(
    researcher_client, researcher
):
    project = ProjectFactory(owner=researcher, slug="pairs")
    import_items(project, 400)
    truth = crowd(project, n_tasks=400, seed=3)

    majority = dpo(researcher_client)
    ds = dpo(researcher_client, label="dawid_skene", filetype="parquet")

    assert len(majority) == len(ds) == 400  # five votes on two answers: always decided
    assert accuracy(ds, truth) >= accuracy(majority, truth) + 0.03
    assert accuracy(ds, truth) >= 0.85


# ---------------------------------------------------------------- labels


def test_labels_give_majority_and_dawid_skene_of_every_judged_pair(researcher_client, pairs):
    import_votes(
        pairs, votes("q0", "a", "a", "b") + votes("q1", "a", "b") + votes("q2", "tie", "tie")
    )

    rows = labels(researcher_client)

    tasks = dict(Task.objects.values_list("item__external_id", "pk"))
    assert [list(row) for row in rows] == [LABEL_FIELDS] * 3
    assert [
        (r["pair_id"], r["item_id"], r["a"], r["b"], r["majority"], r["n_judgments"]) for r in rows
    ] == [
        (tasks["q0"], "q0", "r1", "r2", "a", 3),
        (tasks["q1"], "q1", "r1", "r2", None, 2),
        (tasks["q2"], "q2", "r1", "r2", "tie", 2),
    ]
    assert [r["majority_share"] for r in rows] == [pytest.approx(2 / 3), 0.5, 1.0]
    judged = Judgment.objects.order_by("pk")
    expected = task_labels(
        [j.task_id for j in judged],
        [j.annotator_id for j in judged],
        [CHOICES.index(j.choice) for j in judged],
        len(CHOICES),
    )
    assert [(r["ds_label"], r["ds_posterior"]) for r in rows] == [
        (CHOICES[code], round(float(posterior), 6))
        for code, posterior in zip(expected.weighted, expected.weighted_confidence, strict=True)
    ]


def test_labels_count_people_unless_asked_for_the_judges(researcher_client, pairs):
    import_votes(
        pairs, votes("q0", "a", "a") + votes("q0", "b", "b", "b", judge="llm", kind="model")
    )

    people = labels(researcher_client)
    judges = labels(researcher_client, annotator_kind="model")
    everyone = labels(researcher_client, annotator_kind="all")

    assert [(r["majority"], r["n_judgments"]) for r in people] == [("a", 2)]
    assert [(r["majority"], r["n_judgments"]) for r in judges] == [("b", 3)]
    assert [(r["majority"], r["n_judgments"]) for r in everyone] == [("b", 5)]


def test_labels_leave_flagged_annotators_and_gold_out_unless_asked(researcher_client, pairs):
    gold_row = item_rows(1, prefix="gold")[0] | {"gold": {"preferred": "r1"}}
    items_import(project=pairs, rows=[(1, gold_row)])
    import_votes(pairs, votes("q0", "a", "b", "b") + votes("gold0", "a"))
    for external_id in ("h1", "h2"):
        annotator_block(project=pairs, annotator=Annotator.objects.get(external_id=external_id))

    default = labels(researcher_client)
    everything = labels(researcher_client, exclude_flagged="false", include_gold="true")

    assert [(r["item_id"], r["majority"], r["n_judgments"]) for r in default] == [("q0", "a", 1)]
    assert [(r["item_id"], r["majority"], r["n_judgments"]) for r in everything] == [
        ("q0", "b", 3),
        ("gold0", "a", 1),
    ]


def test_labels_min_judgments_and_since(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a") + votes("q1", "b"))
    cursor = last_judgment()
    import_votes(pairs, votes("q1", "b", judge="late"))

    assert [r["item_id"] for r in labels(researcher_client, min_judgments="2")] == ["q0", "q1"]
    since = labels(researcher_client, since=str(cursor))
    assert "q1" in [r["item_id"] for r in since]
    assert [r["n_judgments"] for r in since if r["item_id"] == "q1"] == [2]


def test_labels_of_a_rubric_project_is_a_400(researcher_client, rubric):
    response = researcher_client.get(RUBRIC_EXPORT, {"format": "labels"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "format", "error": "labels needs a pairwise project"}
    ]


def test_a_labels_snapshot_holds_the_labels_of_its_judgments(researcher_client, pairs, snapshot):
    import_votes(pairs, votes("q0", "a", "a", "b"))
    _, build = snapshot({"format": "labels", "filetype": "parquet"})
    import_votes(pairs, votes("q0", "b", "b", judge="late"))
    built = build()

    assert built["status"] == "ready", built
    rows = snapshot_rows(researcher_client, built)
    assert [(r["majority"], r["n_judgments"]) for r in rows] == [("a", 3)]
    assert [r["majority"] for r in labels(researcher_client)] == ["b"]
    assert "`ds_label`" in built["card"]


# ---------------------------------------------------------------- queries and loading


def _queries(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/projects/many/export/", params)
        assert response.status_code == 200
        b"".join(response.streaming_content)
    return len(queries.captured_queries)


# The project and its criteria, then: dpo the conversation check and the pairs' votes with
# their texts (one statement), Dawid-Skene the passing votes as arrays (one statement),
# labels the vote arrays and the tasks' ids (one statement each). PostgreSQL reads the rows
# through COPY and the vote arrays through psycopg's own binary cursor, which Django's
# query count does not see (SQLite, PostgreSQL):
MAJORITY, DAWID_SKENE, LABELS = (4, 3), (5, 3), (4, 2)


@pytest.mark.parametrize(
    ("params", "counts"),
    [
        ({"format": "dpo"}, MAJORITY),
        ({"format": "dpo", "since": "1"}, MAJORITY),
        ({"format": "dpo", "label": "dawid_skene"}, DAWID_SKENE),
        ({"format": "dpo", "label": "dawid_skene", "since": "1"}, DAWID_SKENE),
        ({"format": "labels"}, LABELS),
        ({"format": "labels", "since": "1"}, LABELS),
    ],
    ids=lambda value: "-".join(value.values()) if isinstance(value, dict) else None,
)
def test_dpo_and_labels_exports_take_a_fixed_number_of_queries(
    researcher_client, researcher, params, counts
):
    project = ProjectFactory(owner=researcher, slug="many")

    def grow(start: int, stop: int) -> None:
        rows = item_rows(stop)[start:]
        items_import(project=project, rows=list(enumerate(rows, start=1)))
        import_votes(project, [v for r in rows for v in votes(r["id"], "a", "a", "b")])

    grow(0, 5)
    few = _queries(researcher_client, params | {"filetype": "parquet"})
    grow(5, 60)
    many = _queries(researcher_client, params | {"filetype": "parquet"})

    assert few == many == counts[connection.vendor == "postgresql"]


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize(
    "params",
    [{"format": "dpo"}, {"format": "dpo", "label": "dawid_skene"}, {"format": "labels"}],
    ids=lambda params: "-".join(params.values()),
)
def test_dpo_and_labels_load_with_hugging_face_datasets(
    researcher_client, pairs, tmp_path, params, filetype
):
    datasets = pytest.importorskip("datasets")
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "b") + votes("q2", "a", "b"))
    cursor = last_judgment()
    import_votes(pairs, votes("q1", "a", "a", judge="late"))
    for name, query in (("full", params), ("since", params | {"since": str(cursor)})):
        response = researcher_client.get(EXPORT, query | {"filetype": filetype})
        assert response.status_code == 200
        path = tmp_path / f"{name}.{filetype}"
        path.write_bytes(b"".join(response.streaming_content))
        builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[filetype]

        dataset = datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=str(tmp_path / name)
        )

        assert "pair_id" in dataset.column_names
        assert dataset.num_rows >= 1
