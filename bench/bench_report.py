"""The agreement report (report_compute) over a pairwise project of N tasks x 5 annotators,
3 pairwise criteria besides the choice, against a COPY of the same judgment rows, and
against the `krippendorff` package alone on one criterion.

Run:  .venv/bin/python bench/bench_report.py [--tasks 200000] [--n-boot 1000] [--quick]
          [--judges K] [--flagged N] [--references]

With --judges, K imported model judges also judge every task (their votes go into the
`model` and `all` figures and leaderboards, computed in the same run); with --flagged, N
annotators are flagged (the leaderboard leaves them out; the one that keeps them is a variant
of its own); with --references, every item carries the original dataset's label.

Prints the wall time of report_compute (fetch included, n_boot bootstrap rounds, the task
labels computed and upserted inside it, as in production) beside
  * the floor: COPY (SELECT * FROM annotation_judgment WHERE project_id = ...) TO STDOUT
    into a buffer (target: report <= 3x COPY),
  * judgment_table alone (the selector: binary arrays read by numpy, two halves at once),
  * krippendorff.alpha on the (annotators x items) matrix of one criterion, no bootstrap,
the timeline of the first run's phases (report_compute runs the agreement reports in a
second thread), and a cProfile of report_compute with that thread's work done inline, since
cProfile sees one thread (its phases and top own-time functions).
Works in its own database `prefpanel_bench_report` (dropped and re-created at start).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    django_setup,
    median,
    profile_rows,
    server_versions,
    today,
    vacuum_analyze,
)

DB_NAME = "prefpanel_bench_report"
ANNOTATORS_PER_TASK = 5
CRITERIA = ("helpful", "honest", "harmless")
N_MODELS = 50
TARGET = 3.0


def project_build(
    n_tasks: int,
    n_annotators: int,
    pairing: str = "crowd",
    judges: int = 0,
    flagged: int = 0,
    references: bool = False,
):
    """200k tasks x 5 annotators = 1M judgments, built with INSERT ... SELECT.

    Each task pairs two of 50 models; its "true" winner is drawn from a Bradley-Terry model
    of the two; each judgment follows it 68% of the time, says tie 12%, both bad 3%, and
    the other side otherwise; each criterion follows the true winner 60%, tie 20%. One task
    in 100 is gold (its judgments carry gold_correct). Every task has 5 different annotators
    drawn pseudo-randomly, so pairs of annotators overlap unevenly, as in a crowd; with
    pairing="team" annotators work in fixed teams of 5 (few pairs, each sharing many items).
    `judges` model judges judge every task (following the true winner 75% of the time),
    `flagged` of the annotators carry a flag, and with `references` each item prefers r1.
    """
    from django.contrib.auth import get_user_model

    from annotation.models import (
        Annotator,
        AnnotatorStats,
        Criterion,
        Item,
        Judgment,
        Project,
        Response,
        Task,
    )
    from bench._fixtures import bulk_load, execute, insert_select

    project = Project.objects.create(
        slug="report",
        name="report",
        kind=Project.Kind.PAIRWISE,
        annotations_per_task=ANNOTATORS_PER_TASK,
        allow_both_bad=True,
    )
    Criterion.objects.bulk_create(
        Criterion(project=project, key=key, label=key.title(), position=i)
        for i, key in enumerate(CRITERIA)
    )
    pid = project.pk
    with bulk_load():
        execute("SELECT setseed(0.42)")
        insert_select(
            get_user_model(),
            values={"username": "'rater-' || lpad(g::text, 5, '0')", "password": "'!'"},
            source="FROM generate_series(1, %s) AS g",
            params=[n_annotators],
        )
        insert_select(
            Annotator,
            values={"user_id": "u.id", "pseudonym": "'ann-' || u.username", "source": "'local'"},
            source="FROM auth_user u WHERE u.username LIKE 'rater-%%'",
        )
        insert_select(
            Item,
            values={
                "project_id": str(pid),
                "external_id": "'item-' || g",
                "prompt": "to_jsonb('Question ' || g || '?')",
                "reference": """'{"preferred": "r1"}'::jsonb""" if references else "NULL",
            },
            source="FROM generate_series(1, %s) AS g",
            params=[n_tasks],
        )
        insert_select(
            Response,
            values={
                "item_id": "i.id",
                "external_id": "v.ext",
                "model": f"'model-' || lpad(((i.id * 7 + v.pos * 11) %% {N_MODELS})::text, 2, '0')",
                "text": "'Answer ' || v.ext || ' to item ' || i.id",
                "position": "v.pos",
            },
            source="FROM annotation_item i CROSS JOIN (VALUES (0, 'r1'), (1, 'r2')) "
            "AS v(pos, ext) WHERE i.project_id = %s",
            params=[pid],
        )
        insert_select(
            Task,
            values={
                "project_id": str(pid),
                "item_id": "i.id",
                "response_a_id": "a.id",
                "response_b_id": "b.id",
                "is_gold": "i.id %% 100 = 0",
                "gold_answer": 'CASE WHEN i.id %% 100 = 0 THEN \'{"choice": "a"}\'::jsonb END',
                "judgment_count": str(ANNOTATORS_PER_TASK),
            },
            source="FROM annotation_item i "
            "JOIN annotation_response a ON a.item_id = i.id AND a.position = 0 "
            "JOIN annotation_response b ON b.item_id = i.id AND b.position = 1 "
            "WHERE i.project_id = %s",
            params=[pid],
        )
        execute(
            "CREATE TEMP TABLE bench_truth AS SELECT t.id AS task_id, t.response_a_id AS ra, "
            "t.response_b_id AS rb, t.is_gold, CASE WHEN random() < 1 / (1 + exp(("
            "substr(b.model, 7)::int - substr(a.model, 7)::int) / 12.0)) THEN 'a' ELSE 'b' END "
            "AS truth FROM annotation_task t JOIN annotation_response a ON a.id = t.response_a_id "
            "JOIN annotation_response b ON b.id = t.response_b_id WHERE t.project_id = %s",
            [pid],
        )
        execute(
            "CREATE TEMP TABLE bench_rater AS SELECT a.id, row_number() OVER (ORDER BY a.id) - 1 "
            "AS idx FROM annotation_annotator a JOIN auth_user u ON u.id = a.user_id "
            "WHERE u.username LIKE 'rater-%%'"
        )
        other = "CASE x.truth WHEN 'a' THEN 'b' ELSE 'a' END"

        def criterion(r: str) -> str:
            return f"CASE WHEN {r} < 0.6 THEN x.truth WHEN {r} < 0.8 THEN 'tie' ELSE {other} END"

        step = n_annotators // ANNOTATORS_PER_TASK
        spread = (
            "tr.task_id * 7919 + g.j * (1 + tr.task_id * 31 %% %s)"
            if pairing == "crowd"
            else "tr.task_id * 3 + g.j * (%s + 1)"
        )
        insert_select(
            Judgment,
            values={
                "project_id": str(pid),
                "task_id": "x.task_id",
                "annotator_id": "x.annotator_id",
                "choice": "CASE WHEN x.u < 0.68 THEN x.truth WHEN x.u < 0.80 THEN 'tie' "
                f"WHEN x.u < 0.83 THEN 'both_bad' ELSE {other} END",
                "criteria": "jsonb_build_object("
                + ", ".join(f"'{key}', {criterion(f'x.v{i}')}" for i, key in enumerate(CRITERIA))
                + ")",
                "shown_left_id": "CASE WHEN x.w < 0.5 THEN x.ra ELSE x.rb END",
                "seconds": "round((3 + 57 * x.s)::numeric, 1)::float8",
                "is_gold": "x.is_gold",
                "gold_correct": "CASE WHEN x.is_gold THEN x.u < 0.68 END",
                "source": "'api'",
                "created_at": "now() - (x.task_id || ' seconds')::interval",
            },
            source="FROM (SELECT tr.*, r.id AS annotator_id, random() AS u, random() AS v0, "
            "random() AS v1, random() AS v2, random() AS w, random() AS s "
            "FROM bench_truth tr CROSS JOIN generate_series(0, %s) AS g(j) "
            f"JOIN bench_rater r ON r.idx = ({spread}) %% %s "
            "ORDER BY tr.task_id, g.j) AS x",
            params=[ANNOTATORS_PER_TASK - 1, step - 1, n_annotators],
        )
        if judges:
            insert_select(
                Annotator,
                values={
                    "source": "'import'",
                    "external_id": "'judge-' || g",
                    "kind": "'model'",
                    "pseudonym": "'judge-' || g",
                },
                source="FROM generate_series(1, %s) AS g",
                params=[judges],
            )
            insert_select(
                Judgment,
                values={
                    "project_id": str(pid),
                    "task_id": "t.task_id",
                    "annotator_id": "a.id",
                    "choice": f"CASE WHEN random() < 0.75 THEN t.truth ELSE "
                    f"{other.replace('x.', 't.')} END",
                    "criteria": "jsonb_build_object("
                    + ", ".join(f"'{key}', t.truth" for key in CRITERIA)
                    + ")",
                    "is_gold": "t.is_gold",
                    "gold_correct": "CASE WHEN t.is_gold THEN t.truth = 'a' END",
                    "source": "'import'",
                },
                source="FROM bench_truth t CROSS JOIN annotation_annotator a "
                "WHERE a.kind = 'model' AND a.external_id LIKE 'judge-%%'",
            )
        insert_select(
            AnnotatorStats,
            values={
                "project_id": str(pid),
                "annotator_id": "x.annotator_id",
                "judgments": "x.n",
                "decided": "x.n",
                "left_choices": "x.n / 2",
                "gold_judgments": "x.gold",
                "gold_correct": "x.gold",
                "seconds_total": "x.n * 30.0",
                "flags": "'[]'::jsonb",
            },
            source="FROM (SELECT annotator_id, count(*) AS n, count(*) FILTER (WHERE is_gold) "
            "AS gold FROM annotation_judgment WHERE project_id = %s GROUP BY annotator_id) AS x",
            params=[pid],
        )
        if flagged:
            execute(
                "UPDATE annotation_annotatorstats SET flags = '[\"low_agreement\"]'::jsonb "
                "WHERE id IN (SELECT id FROM annotation_annotatorstats WHERE project_id = %s "
                "ORDER BY id LIMIT %s)",
                [pid, flagged],
            )
        execute("DROP TABLE bench_truth; DROP TABLE bench_rater")
    vacuum_analyze(
        "auth_user",
        "annotation_annotator",
        "annotation_item",
        "annotation_response",
        "annotation_task",
        "annotation_judgment",
        "annotation_annotatorstats",
    )
    return project


def copy_floor(project_id: int) -> tuple[float, int]:
    """COPY every judgment row of the project (all columns) to a buffer: the floor."""
    from django.db import connection

    buffer = io.BytesIO()
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY (SELECT * FROM annotation_judgment WHERE project_id = %s) TO STDOUT",
            [project_id],
        ) as copy,
    ):
        for block in copy:
            buffer.write(block)
    return time.perf_counter() - started, buffer.tell()


def reliability_matrix(project, key: str) -> tuple[np.ndarray, float]:
    """(annotators x items) float matrix, nan where missing, of one criterion's codes over
    the judgments the report uses for it (human, not gold, answered)."""
    from annotation.selectors.judgment_table import judgment_table

    table = judgment_table(project=project)
    started = time.perf_counter()
    keep = ~table.is_gold & ~table.is_model & (table.criteria[key] >= 0)
    items, item_index = np.unique(table.task[keep], return_inverse=True)
    raters, rater_index = np.unique(table.annotator[keep], return_inverse=True)
    matrix = np.full((len(raters), len(items)), np.nan)
    matrix[rater_index, item_index] = table.criteria[key][keep]
    return matrix, time.perf_counter() - started


TIMED = (
    "judgment_table",
    "task_references",
    "agreement_reports",
    "_kind_figures",
    "_per_annotator",
    "judge_measures",
    "_transitivity",
    "_reference_agreement",
    "_vote_counts",
    "leaderboard_from_counts",
    "task_labels_from_table",
    "majority_vote",
    "dawid_skene",
    "task_labels_store",
)


def phase_timings(project, n_boot: int) -> tuple[float, list[tuple], dict]:
    """report_compute once, unprofiled, with a stopwatch around the helpers it looks up in
    its module (judgment_table, agreement_reports, task_labels_from_table, ...): (total, [(phase,
    thread, start, end)], extra). Nested phases lie within their callers."""
    import threading
    from contextlib import ExitStack
    from unittest import mock

    from annotation.services import reports

    spans: list[tuple] = []
    extra: dict = {}
    origin = time.perf_counter()

    def stopwatch(name, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            finally:
                thread = (
                    "main" if threading.current_thread() is threading.main_thread() else "second"
                )
                spans.append((name, thread, started - origin, time.perf_counter() - origin))
            if name == "dawid_skene":
                extra["dawid_skene_iterations"] = getattr(result, "n_iter", None)
            return result

        return timed

    with ExitStack() as stack:
        for name in TIMED:
            if hasattr(reports, name):
                stack.enter_context(
                    mock.patch.object(reports, name, stopwatch(name, getattr(reports, name)))
                )
        origin = time.perf_counter()
        stored = reports.report_compute(project=project, n_boot=n_boot)
        total = time.perf_counter() - origin
    extra["stored"] = stored
    return total, spans, extra


class InlineExecutor:
    """A stand-in for report_compute's ThreadPoolExecutor that runs each job at once, in
    the calling thread, so that cProfile (which sees one thread) sees all the work."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args, **kwargs):
        from concurrent.futures import Future

        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


PHASES = (
    ("judgment_table", "judgment_table.py", "judgment_table"),
    ("agreement_reports (4 reports)", "agreement.py", "agreement_reports"),
    ("  of which Cohen bootstrap", "agreement.py", "_cohen_bootstraps"),
    ("  all resampling (bootstrap_together)", "resampling.py", "bootstrap_together"),
    ("    drawing counts (resample_counts)", "resampling.py", "resample_counts"),
    ("    identical rows (identical_rows)", "resampling.py", "identical_rows"),
    ("_per_annotator", "reports.py", "_per_annotator"),
    ("judge_measures", "judge_measures.py", "judge_measures"),
    ("_transitivity", "reports.py", "_transitivity"),
    ("_vote_counts (every leaderboard variant)", "reports.py", "_vote_counts"),
    ("leaderboard_from_counts", "ranking.py", "leaderboard_from_counts"),
    ("_reference_agreement", "reports.py", "_reference_agreement"),
    ("task_labels_from_table (majority + Dawid-Skene)", "task_labels.py", "task_labels_from_table"),
    ("  of which dawid_skene", "aggregation.py", "dawid_skene"),
    ("task_labels_store (binary COPY + upsert)", "task_labels.py", "task_labels_store"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, help="tasks (x5 judgments); default 200,000")
    parser.add_argument("--annotators", type=int, default=500)
    parser.add_argument(
        "--pairing",
        choices=("crowd", "team"),
        default="crowd",
        help="5 annotators per task drawn at random (crowd) or fixed teams of 5 (team)",
    )
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--judges", type=int, default=0, help="model judges on every task")
    parser.add_argument("--flagged", type=int, default=0, help="flagged annotators")
    parser.add_argument("--references", action="store_true", help="items carry the original label")
    parser.add_argument("--runs", type=int, default=2, help="report_compute runs")
    parser.add_argument("--quick", action="store_true", help="40k tasks (200k judgments)")
    parser.add_argument("--profile-top", type=int, default=20)
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        help="cProfile one more report_compute (default: on, off with --quick)",
    )
    args = parser.parse_args()
    n_tasks = args.tasks or (40_000 if args.quick else 200_000)
    runs = 1 if args.quick else args.runs
    if args.profile is None:
        args.profile = not args.quick

    django_setup(DB_NAME)
    import krippendorff

    from annotation.selectors.judgment_table import judgment_table
    from annotation.services.reports import report_compute
    from annotation.stats import Ratings, krippendorff_alpha

    print(f"bench_report  {today()}  {server_versions()}")
    started = time.perf_counter()
    project = project_build(
        n_tasks, args.annotators, args.pairing, args.judges, args.flagged, args.references
    )
    from annotation.models import Judgment

    n_judgments = Judgment.objects.filter(project=project).count()
    print(
        f"{n_judgments:,} judgments ({n_tasks:,} tasks x {ANNOTATORS_PER_TASK}, "
        f"{args.annotators} annotators in {args.pairing} pairing, {N_MODELS} models, "
        f"criteria {', '.join(CRITERIA)}; "
        f"1% gold; {args.judges} model judges on every task, {args.flagged} flagged "
        f"annotators, {'references' if args.references else 'no references'}), "
        f"built in {time.perf_counter() - started:.0f} s; n_boot={args.n_boot}\n"
    )

    copy_floor(project.pk)  # warm the cache as a report on a live project would find it
    copies = [copy_floor(project.pk) for _ in range(3)]
    t_copy = median([t for t, _ in copies])
    table_times = []
    for _ in range(2):
        t0 = time.perf_counter()
        judgment_table(project=project)
        table_times.append(time.perf_counter() - t0)
    t_table = median(table_times)

    report_times = []
    for run in range(runs):
        if run == 0:  # the first run also times its phases (a stopwatch around each)
            elapsed, spans, extra = phase_timings(project, args.n_boot)
            stored = extra["stored"]
        else:
            t0 = time.perf_counter()
            stored = report_compute(project=project, n_boot=args.n_boot)
            elapsed = time.perf_counter() - t0
        report_times.append(elapsed)
        print(
            f"  report_compute run {run + 1}: {report_times[-1]:7.2f} s"
            f"{'  (task labels inserted)' if run == 0 else '  (task labels updated)'}"
        )
    t_report = median(report_times)

    key = CRITERIA[0]
    matrix, t_matrix = reliability_matrix(project, key)
    t0 = time.perf_counter()
    alpha_package = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="nominal", value_domain=[0.0, 1.0, 2.0]
    )
    t_kripp = time.perf_counter() - t0
    table = judgment_table(project=project)
    keep = ~table.is_gold & ~table.is_model & (table.criteria[key] >= 0)
    ratings = Ratings(table.task[keep], table.annotator[keep], table.criteria[key][keep])
    t0 = time.perf_counter()
    alpha_ours = krippendorff_alpha(ratings, "nominal")
    t_ours = time.perf_counter() - t0
    alpha_report = stored.report["criteria"][key]["krippendorff_alpha"]["value"]

    ratio = t_report / t_copy
    print()
    print(f"{'COPY of the judgment rows to a buffer (floor)':<52} {t_copy:8.3f} s")
    print(f"{'  bytes copied':<52} {copies[0][1] / 2**20:8.1f} MiB")
    print(f"{'judgment_table (selector: binary arrays + numpy)':<52} {t_table:8.3f} s")
    print(f"{'report_compute, n_boot=' + str(args.n_boot) + ', median':<52} {t_report:8.3f} s")
    print(
        f"{'ratio report / COPY':<52} {ratio:8.2f}x  target <= {TARGET:.0f}x: "
        f"{'MET' if ratio <= TARGET else 'NOT MET'}"
    )
    print(f"{'ratio judgment_table / COPY':<52} {t_table / t_copy:8.2f}x")
    print(
        f"{'krippendorff.alpha, ' + key + ', ' + str(matrix.shape) + ' matrix':<52} "
        f"{t_kripp:8.3f} s  (matrix built in {t_matrix:.2f} s, {matrix.nbytes / 2**20:.0f} MiB)"
    )
    print(f"{'annotation.stats.krippendorff_alpha, same data':<52} {t_ours:8.3f} s")
    print(f"{'ratio report / krippendorff package (1 criterion)':<52} {t_report / t_kripp:8.2f}x")
    print(
        f"  alpha({key}): package {alpha_package:.6f}, ours {alpha_ours:.6f}, report {alpha_report}"
    )

    for name, entry in stored.report["criteria"].items():
        cohen = entry.get("cohen_kappa_mean") or {}
        alpha = entry.get("krippendorff_alpha") or {}
        print(
            f"  {name:<9} alpha {alpha.get('value') or float('nan'):.3f} "
            f"ci {alpha.get('ci')}; Cohen's kappa over {cohen.get('n_pairs')} annotator pairs"
        )
    variants = stored.variants.get("leaderboard", {})
    boards = {"human": stored.leaderboard, **variants}

    def votes(board) -> str:
        if isinstance(board, str):
            return f"= {board}"
        if board and "counts" in board:
            return "counts only (fitted when asked)"
        return f"{(board or {}).get('n_votes', 0):,} votes"

    print(
        "  leaderboards: " + ", ".join(f"{name} {votes(board)}" for name, board in boards.items())
    )
    for judge in stored.report.get("model_judges", []):
        print(
            f"  judge {judge['annotator']}: kappa {judge['cohen_kappa']}, "
            f"agreement {judge['percent_agreement']}, n {judge['n']}"
        )
    if "reference_agreement" in stored.report:
        print(f"  reference agreement: {stored.report['reference_agreement']}")
    total = report_times[0]
    print(f"\nphases of report_compute run 1 ({total:.2f} s), as a timeline: the agreement")
    print("reports run in a second thread, the leaderboard in whichever thread is free first;")
    print("nested phases lie within their callers:")
    for name, thread, start, end in sorted(spans, key=lambda span: span[2]):
        print(f"    {name:<28} {thread:<7} {start:6.2f} -> {end:6.2f} s  ({end - start:5.2f} s)")
    print(f"    dawid_skene EM iterations: {extra.get('dawid_skene_iterations')}")

    if not args.profile:
        return
    from unittest import mock

    from annotation.services import reports

    profiler = cProfile.Profile()
    with mock.patch.object(reports, "ThreadPoolExecutor", InlineExecutor):
        profiler.enable()
        t0 = time.perf_counter()
        report_compute(project=project, n_boot=args.n_boot)
        t_profiled = time.perf_counter() - t0
        profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\ncProfile of one report_compute, one thread ({t_profiled:.2f} s under the profiler)")
    print("  phases (cumulative time):")
    for label, filename, function in PHASES:
        total, calls = 0.0, 0
        for (path, _, name), (_, ncalls, _, cumulative, _) in stats.stats.items():
            if name == function and path.endswith(filename):
                total, calls = total + cumulative, calls + ncalls
        if calls:
            print(f"    {label:<40} {total:7.2f} s  ({total / t_profiled:5.1%}, {calls} calls)")
    print("  top functions by own time (tottime):")
    print("\n".join(profile_rows(profiler, "tottime", args.profile_top)))


if __name__ == "__main__":
    main()
