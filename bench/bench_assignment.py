"""Next task (assignment_lease) and judgment submission: cost versus queue size, latency and
throughput through gunicorn, and a race for the last slots of tasks.

Run:  .venv/bin/python bench/bench_assignment.py [--quick] [--sizes 10000,100000,1000000]
          [--http-sizes 1000,20000] [--concurrency 8,50] [--skip-http] [--redis-db 13]

(a) in-process: median and p95 of one assignment_lease call for annotators with history
    and fresh ones, at each number of tasks; ratio largest / smallest (target <= 1.5);
    time per SQL statement; EXPLAIN (ANALYZE, BUFFERS) of the candidate queries at the
    largest size.
(b) HTTP, gunicorn -w 4, DEBUG=false, persistent connections, Redis cache and broker:
    p95 of GET tasks/next + POST judgment pairs at each HTTP size (target <= 20 ms at
    20k, growth <= 1.2x), beside the floor pair (two bare one-row INSERT requests).
(c) judgments per second under C concurrent annotators (next + submit loops) beside the
    floor: bare INSERT requests per second from as many clients.
(d) race: 8 annotator threads for 200 tasks with k=3; tasks over or under k (target 0).

Works in its own database `prefpanel_bench_assignment` (dropped and re-created at start)
and in one Redis database index (must be empty; its keys are deleted at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import re
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    RedisScratch,
    django_setup,
    gunicorn,
    median,
    percentile,
    profile_rows,
    server_versions,
    today,
    vacuum_analyze,
)

DB_NAME = "prefpanel_bench_assignment"
K = 3
GOLD_EVERY = 100  # one task in a hundred is gold
HEAD = 5000  # history sits on the first tasks of the queue (judgment_count k-1)
CRITERIA = ("helpful", "honest", "concise")
SIDES = ("left", "right", "tie")
REQUEST_TIMEOUT = 30.0


# ------------------------------------------------------------------------------ fixture


def annotators_create(n_history: int, n_fresh: int) -> dict[str, list[tuple[int, str]]]:
    """Users, annotators and API tokens in bulk; returns (annotator id, token) lists."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotation.models import Annotator
    from bench._fixtures import execute, insert_select

    user_model = get_user_model()
    for kind, n in (("h", n_history), ("f", n_fresh)):
        insert_select(
            user_model,
            values={"username": f"'bench-{kind}-' || lpad(g::text, 6, '0')", "password": "'!'"},
            source="FROM generate_series(1, %s) AS g",
            params=[n],
        )
    insert_select(
        Annotator,
        values={
            "user_id": "u.id",
            "pseudonym": "'ann-' || substr(u.username, 7)",
            "source": "'local'",
        },
        source="FROM auth_user u WHERE u.username LIKE 'bench-%%' ORDER BY u.id",
    )
    insert_select(
        Token,
        values={"key": "substr(md5('k' || u.id) || md5('t' || u.id), 1, 40)", "user_id": "u.id"},
        source="FROM auth_user u WHERE u.username LIKE 'bench-%%'",
    )
    execute("ANALYZE auth_user; ANALYZE annotation_annotator; ANALYZE authtoken_token")
    out: dict[str, list[tuple[int, str]]] = {"h": [], "f": []}
    rows = (
        Annotator.objects.filter(user__username__startswith="bench-")
        .order_by("pk")
        .values_list("pk", "user__username", "user__auth_token__key")
    )
    for pk, username, key in rows:
        out[username.split("-")[1]].append((pk, key))
    return out


def projects_reset() -> None:
    """Empty every project table of the bench database (annotators and users stay)."""
    from bench._fixtures import execute

    execute("TRUNCATE annotation_project RESTART IDENTITY CASCADE")


def project_build(
    n_tasks: int,
    *,
    slug: str,
    history: int = 5,
    gold_rate: float = 0.1,
    mixed_counts: bool = True,
    live_leases: int = 50,
    expired_leases: int = 500,
):
    """A pairwise project with n_tasks tasks (one per item), built with INSERT ... SELECT.

    judgment_count is spread 40% 0, 25% 1, 20% 2, 15% complete (k=3); one task in 100 is
    gold. Every history annotator has `history` submitted assignments with judgments on the
    head of the queue (the first tasks at k-1) plus one gold judgment, every tenth one a
    skip; `live_leases` of them hold a live lease on the very first tasks (so those are full
    and every call must pass over them) and `expired_leases` an expired one.
    """
    from bench._fixtures import bulk_load, scalar

    with bulk_load():
        project = _project_rows(
            n_tasks,
            slug=slug,
            history=history,
            gold_rate=gold_rate,
            mixed_counts=mixed_counts,
            live_leases=live_leases,
            expired_leases=expired_leases,
        )
    pid = project.pk
    vacuum_analyze(
        "annotation_item",
        "annotation_response",
        "annotation_task",
        "annotation_assignment",
        "annotation_judgment",
        "annotation_annotatorstats",
    )
    project.refresh_from_db()
    stats = {
        "tasks": scalar("SELECT count(*) FROM annotation_task WHERE project_id = %s", [pid]),
        "open": scalar(
            "SELECT count(*) FROM annotation_task WHERE project_id = %s AND NOT is_gold "
            "AND judgment_count < %s",
            [pid, K],
        ),
        "gold": scalar(
            "SELECT count(*) FROM annotation_task WHERE project_id = %s AND is_gold", [pid]
        ),
        "assignments": scalar(
            "SELECT count(*) FROM annotation_assignment WHERE project_id = %s", [pid]
        ),
        "judgments": scalar(
            "SELECT count(*) FROM annotation_judgment WHERE project_id = %s", [pid]
        ),
    }
    return project, stats


def _project_rows(
    n_tasks: int,
    *,
    slug: str,
    history: int,
    gold_rate: float,
    mixed_counts: bool,
    live_leases: int,
    expired_leases: int,
):
    from annotation.models import (
        AnnotatorStats,
        Assignment,
        Criterion,
        Item,
        Judgment,
        Project,
        Response,
        Task,
    )
    from bench._fixtures import insert_select, scalar

    project = Project.objects.create(
        slug=slug,
        name=slug,
        kind=Project.Kind.PAIRWISE,
        annotations_per_task=K,
        gold_rate=gold_rate,
    )
    Criterion.objects.bulk_create(
        Criterion(project=project, key=key, label=key.title(), position=i)
        for i, key in enumerate(CRITERIA)
    )
    pid = project.pk
    insert_select(
        Item,
        values={
            "project_id": str(pid),
            "external_id": "'item-' || g",
            "prompt": "to_jsonb('Question ' || g || ': ' || repeat('what would you ask? ', 6))",
            "metadata": "jsonb_build_object('n', g)",
        },
        source="FROM generate_series(1, %s) AS g",
        params=[n_tasks],
    )
    insert_select(
        Response,
        values={
            "item_id": "i.id",
            "external_id": "v.ext",
            "model": "'model-' || lpad(((i.id * 7 + v.pos * 11) %% 20)::text, 2, '0')",
            "text": "'Answer ' || v.ext || ' to item ' || i.id || ': ' "
            "|| repeat('a careful, complete answer. ', 10)",
            "position": "v.pos",
        },
        source="FROM annotation_item i CROSS JOIN (VALUES (0, 'r1'), (1, 'r2')) AS v(pos, ext) "
        "WHERE i.project_id = %s",
        params=[pid],
    )
    gold = f"i.id %% {GOLD_EVERY} = 0" if mixed_counts else "false"
    count = (
        f"CASE WHEN {gold} THEN (i.id / {GOLD_EVERY}) %% 40 "
        "WHEN (i.id * 19) %% 100 < 40 THEN 0 WHEN (i.id * 19) %% 100 < 65 THEN 1 "
        f"WHEN (i.id * 19) %% 100 < 85 THEN 2 ELSE {K} END"
        if mixed_counts
        else "0"
    )
    insert_select(
        Task,
        values={
            "project_id": str(pid),
            "item_id": "i.id",
            "response_a_id": "a.id",
            "response_b_id": "b.id",
            "is_gold": gold,
            "gold_answer": f'CASE WHEN {gold} THEN \'{{"choice": "a"}}\'::jsonb END',
            "judgment_count": count,
        },
        source="FROM annotation_item i "
        "JOIN annotation_response a ON a.item_id = i.id AND a.position = 0 "
        "JOIN annotation_response b ON b.item_id = i.id AND b.position = 1 "
        "WHERE i.project_id = %s",
        params=[pid],
    )
    if history:
        # Positions are computed on the annotator side with constant moduli, so every join
        # below is an equality the planner can hash.
        h = scalar(
            "SELECT count(*) FROM (SELECT 1 FROM annotation_task WHERE project_id = %s "
            "AND NOT is_gold AND judgment_count = %s LIMIT %s) AS x",
            [pid, K - 1, HEAD],
        )
        g = scalar("SELECT count(*) FROM annotation_task WHERE project_id = %s AND is_gold", [pid])
        head = (
            "(SELECT id, response_a_id, row_number() OVER (ORDER BY id) - 1 AS pos "
            "FROM (SELECT id, response_a_id FROM annotation_task "
            f"WHERE project_id = {pid} AND NOT is_gold AND judgment_count = {K - 1} "
            f"ORDER BY id LIMIT {HEAD}) AS first) AS head"
        )
        golds = (
            "(SELECT id, response_a_id, row_number() OVER (ORDER BY id) - 1 AS pos "
            f"FROM annotation_task WHERE project_id = {pid} AND is_gold) AS head"
        )
        annotators = (
            "(SELECT a.id, row_number() OVER (ORDER BY a.id) - 1 AS idx "
            "FROM annotation_annotator a JOIN auth_user u ON u.id = a.user_id "
            "WHERE u.username LIKE 'bench-h-%%') AS ann"
        )
        lease = {
            "project_id": str(pid),
            "task_id": "head.id",
            "annotator_id": "ann.id",
            "left_response_id": "head.response_a_id",
        }
        done = {
            **lease,
            "status": "'submitted'",
            "leased_at": "now() - interval '2 days'",
            "expires_at": "now() - interval '2 days' + interval '15 minutes'",
            "finished_at": "now() - interval '2 days' + interval '1 minute'",
        }
        insert_select(
            Assignment,
            values=done,
            source=f"FROM {annotators} CROSS JOIN generate_series(0, %s) AS j JOIN {head} "
            "ON head.pos = (ann.idx * 37 + j * %s) %% %s",
            params=[history - 1, max(h // history, 1), h],
            on_conflict_do_nothing=True,
        )
        insert_select(
            Assignment,
            values=done,
            source=f"FROM {annotators} JOIN {golds} ON head.pos = ann.idx %% %s",
            params=[max(g, 1)],
            on_conflict_do_nothing=True,
        )
        insert_select(
            Assignment,
            values={**done, "status": "'skipped'", "skip_reason": "'unclear'"},
            source=f"FROM {annotators} JOIN {head} "
            "ON head.pos = (ann.idx * 37 + %s) %% %s WHERE ann.idx %% 10 = 0",
            params=[h // 2 + 1, h],
            on_conflict_do_nothing=True,
        )
        insert_select(
            Assignment,
            values={
                **lease,
                "status": "'leased'",
                "leased_at": "now()",
                "expires_at": "now() + interval '1 hour'",
            },
            source=f"FROM {annotators} JOIN {head} ON head.pos = ann.idx WHERE ann.idx < %s",
            params=[live_leases],
            on_conflict_do_nothing=True,
        )
        insert_select(
            Assignment,
            values={
                **lease,
                "status": "'leased'",
                "leased_at": "now() - interval '2 hours'",
                "expires_at": "now() - interval '1 hour'",
            },
            source=f"FROM {annotators} JOIN {head} ON head.pos = ann.idx "
            "WHERE ann.idx >= %s AND ann.idx < %s",
            params=[live_leases, live_leases + expired_leases],
            on_conflict_do_nothing=True,
        )
        insert_select(
            Judgment,
            values={
                "project_id": "s.project_id",
                "task_id": "s.task_id",
                "annotator_id": "s.annotator_id",
                "assignment_id": "s.id",
                "choice": "(ARRAY['a', 'a', 'b', 'b', 'tie'])[1 + s.id %% 5]",
                "criteria": "jsonb_build_object('helpful', 'a', 'honest', 'tie', 'concise', 'b')",
                "shown_left_id": "s.left_response_id",
                "seconds": "4 + s.id %% 30",
                "is_gold": "t.is_gold",
                "gold_correct": "CASE WHEN t.is_gold THEN s.id %% 4 <> 0 END",
                "source": "'api'",
                "created_at": "s.finished_at",
            },
            source="FROM annotation_assignment s JOIN annotation_task t ON t.id = s.task_id "
            "WHERE s.project_id = %s AND s.status = 'submitted'",
            params=[pid],
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
                "seconds_total": "x.n * 12.0",
                "flags": "'[]'::jsonb",
            },
            source="FROM (SELECT annotator_id, count(*) AS n, count(*) FILTER (WHERE is_gold) "
            "AS gold FROM annotation_judgment WHERE project_id = %s GROUP BY annotator_id) AS x",
            params=[pid],
        )
    return project


# ------------------------------------------------------------------------------ (a) in-process


STATEMENT_KINDS = (
    ("candidate (SKIP LOCKED)", re.compile(r"SKIP LOCKED")),
    ("gold candidate (RANDOM)", re.compile(r"RANDOM\(\)")),
    ("lease insert", re.compile(r'^INSERT INTO "annotation_assignment"')),
    ("re-count under lock", re.compile(r'^SELECT 1 AS "a" FROM "annotation_task"')),
    ("current lease", re.compile(r'ORDER BY "annotation_assignment"\."leased_at" DESC')),
    ("annotator stats", re.compile(r'FROM "annotation_annotatorstats"')),
    ("savepoint / commit", re.compile(r"^(SAVEPOINT|RELEASE|ROLLBACK|COMMIT)")),
)


def statement_kind(sql: str) -> str:
    for name, pattern in STATEMENT_KINDS:
        if pattern.search(sql):
            return name
    return "other"


class Recorder:
    """connection.execute_wrapper: time of each statement by kind, and the last SQL seen."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.last: dict[str, tuple[str, tuple]] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = statement_kind(sql)
            self.seconds[kind].append(time.perf_counter() - started)
            self.last[kind] = (sql, tuple(params or ()))


def capture_candidate_sql(project, annotator_ids: list[int]) -> dict[str, tuple[str, tuple]]:
    """Run leases in transactions that are rolled back, until both the regular and the gold
    candidate query have been seen; returns their SQL and parameters."""
    from django.db import connection, transaction

    from annotation.models import Annotator
    from annotation.services.assignment import assignment_lease

    recorder = Recorder()
    wanted = {"candidate (SKIP LOCKED)", "gold candidate (RANDOM)"}
    for pk in annotator_ids:
        annotator = Annotator.objects.get(pk=pk)
        with transaction.atomic(), connection.execute_wrapper(recorder):
            assignment_lease(project=project, annotator=annotator)
            transaction.set_rollback(True)
        if wanted <= set(recorder.last):
            break
    return {kind: recorder.last[kind] for kind in wanted if kind in recorder.last}


def sql_text(sql: str, params: tuple) -> str:
    """The statement with its parameters inlined, for reading only."""
    try:
        return sql % tuple(f"'{p}'" if isinstance(p, str) else str(p) for p in params)
    except (TypeError, ValueError):
        return sql


def gold_alternative(project, annotator_id: int) -> None:
    """The engine's gold pick (least-answered gold first, in index order) beside the first
    version's ORDER BY RANDOM() over every gold task, timed; the engine's explained."""
    from annotation.models import Assignment, Task
    from bench._fixtures import explain

    finished = Assignment.objects.filter(
        project=project, annotator_id=annotator_id, status__in=("submitted", "skipped")
    ).values("task_id")
    base = (
        Task.objects.filter(project=project, is_gold=True)
        .exclude(pk__in=finished)
        .select_related("item", "response_a", "response_b")
    )
    variants = {
        "first version: order_by('?')": base.order_by("?"),
        "engine: order_by('judgment_count', '-id')": base.order_by("judgment_count", "-id"),
    }
    print(
        f"\n    gold pick at {Task.objects.filter(project=project, is_gold=True).count():,} "
        "gold tasks, 30 calls each:"
    )
    for label, queryset in variants.items():
        times = []
        for _ in range(30):
            started = time.perf_counter()
            queryset.first()
            times.append(time.perf_counter() - started)
        print(
            f"      {label:<46} median {median(times) * 1000:7.2f} ms   "
            f"p95 {percentile(times, 95) * 1000:7.2f} ms"
        )
    sql, params = variants["engine: order_by('judgment_count', '-id')"][:1].query.sql_with_params()
    print("    EXPLAIN (ANALYZE, BUFFERS) of the engine's gold pick (same plan as its SQL):")
    for line in explain(sql, params).splitlines():
        print(f"      {line}")


def measure_in_process(args, annotators, sizes: list[int]) -> dict[int, dict]:
    """All sizes live side by side (one project each) and are measured in alternation, so
    the machine's noise falls on every size alike."""
    from django.db import connection

    from annotation.models import Annotator
    from annotation.services.assignment import assignment_lease
    from bench._fixtures import explain

    history_ids = [pk for pk, _ in annotators["h"]]
    fresh_ids = [pk for pk, _ in annotators["f"]]
    rng = random.Random(7)
    print("(a) assignment_lease in-process, one call per annotator, each keeps its lease")
    print(
        f"    {len(history_ids):,} annotators with history ({args.history} submitted + 1 gold "
        f"each, every 10th a skip), {len(fresh_ids):,} fresh; k={K}, gold_rate 0.1, 1% gold; "
        "one project per size, calls alternate between sizes"
    )
    projects_reset()
    projects = {}
    for n in sizes:
        started = time.perf_counter()
        projects[n], stats = project_build(n, slug=f"lease-{n}", history=args.history)
        print(
            f"    built {n:>9,} tasks ({stats['open']:,} open, {stats['gold']:,} gold, "
            f"{stats['assignments']:,} assignments, {stats['judgments']:,} judgments) in "
            f"{time.perf_counter() - started:.0f} s"
        )
    # Annotators that hold a live or expired lease would take another path: left out.
    busy = args.live_leases + args.expired_leases
    pool = history_ids[busy:]
    picked = rng.sample(pool, args.calls + 10)
    hist, warm = picked[: args.calls], picked[args.calls :]
    fresh = rng.sample(fresh_ids, args.calls)
    objects = Annotator.objects.select_related("user").in_bulk(hist + warm + fresh)
    recorders = {n: Recorder() for n in sizes}
    times: dict[int, dict[str, list[float]]] = {n: {"history": [], "fresh": []} for n in sizes}
    for pk in warm:
        for n in sizes:
            assignment_lease(project=projects[n], annotator=objects[pk])
    for i in range(args.calls):
        rotation = sizes[i % len(sizes) :] + sizes[: i % len(sizes)]
        for group, pk in (("history", hist[i]), ("fresh", fresh[i])):
            for n in rotation:
                with connection.execute_wrapper(recorders[n]):
                    started = time.perf_counter()
                    lease = assignment_lease(project=projects[n], annotator=objects[pk])
                    times[n][group].append(time.perf_counter() - started)
                if lease is None:
                    raise RuntimeError("the queue ran dry during the measurement")
    results: dict[int, dict] = {}
    for n in sizes:
        results[n] = {**times[n], "all": times[n]["history"] + times[n]["fresh"]}
        print(f"\n  {n:>9,} tasks")
        for label in ("history", "fresh", "all"):
            values = results[n][label]
            print(
                f"    {label:<8} n={len(values):<4} median {median(values) * 1000:7.2f} ms   "
                f"p95 {percentile(values, 95) * 1000:7.2f} ms   max {max(values) * 1000:7.2f} ms"
            )
        print("    per statement (median / p95 / calls):")
        by_total = sorted(recorders[n].seconds.items(), key=lambda kv: -sum(kv[1]))
        for kind, values in by_total:
            print(
                f"      {kind:<26} {median(values) * 1000:7.3f} / "
                f"{percentile(values, 95) * 1000:7.3f} ms  x{len(values)}"
            )
    large = sizes[-1]
    spare = [pk for pk in pool if pk not in set(picked)]
    captured = capture_candidate_sql(projects[large], spare[:200])
    for kind, (sql, params) in sorted(captured.items()):
        print(f"\n    EXPLAIN (ANALYZE, BUFFERS) of the {kind} query at {large:,} tasks:")
        print(f"    {sql_text(sql, params)}")
        for line in explain(sql, params).splitlines():
            print(f"      {line}")
    gold_alternative(projects[large], spare[-1])
    small = sizes[0]
    print(f"\n  growth {large:,} / {small:,} tasks (target <= 1.5):")
    for label in ("history", "fresh", "all"):
        for stat, fn in (("median", median), ("p95", lambda v: percentile(v, 95))):
            ratio = fn(results[large][label]) / fn(results[small][label])
            print(f"    {label:<8} {stat:<6} {ratio:6.2f}x  {'MET' if ratio <= 1.5 else 'NOT MET'}")
    return results


# ------------------------------------------------------------------------------ HTTP client


class Client:
    """One annotator's keep-alive connection (http.client reconnects when gunicorn's sync
    workers close it)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def judgment_body(rng: random.Random) -> dict:
    return {
        "choice": rng.choice(SIDES),
        "criteria": {key: rng.choice(SIDES) for key in CRITERIA},
        "seconds": round(rng.uniform(4, 40), 1),
    }


def next_and_submit(client: Client, slug: str, rng: random.Random) -> tuple[float, float, str]:
    """(seconds for tasks/next, seconds for the judgment, outcome)."""
    started = time.perf_counter()
    status, body = client.request("GET", f"/api/v1/projects/{slug}/tasks/next/")
    t_next = time.perf_counter() - started
    if status == 204:
        return t_next, 0.0, "empty"
    if status != 200:
        return t_next, 0.0, f"next {status}: {body[:200]!r}"
    assignment = json.loads(body)["assignment"]
    started = time.perf_counter()
    status, body = client.request(
        "POST", f"/api/v1/assignments/{assignment}/judgment/", judgment_body(rng)
    )
    t_submit = time.perf_counter() - started
    if status != 201:
        return t_next, t_submit, f"submit {status}: {body[:200]!r}"
    return t_next, t_submit, "ok"


def floor_request(client: Client, rng: random.Random) -> tuple[float, str]:
    from bench.floor_app import FLOOR_PATH

    started = time.perf_counter()
    status, body = client.request("POST", FLOOR_PATH, judgment_body(rng))
    elapsed = time.perf_counter() - started
    return elapsed, "ok" if status == 201 else f"floor {status}: {body[:200]!r}"


def latency_run(
    port: int, floor_port: int, slugs: dict[int, str], tokens: list[str], rounds: int
) -> dict[int, dict]:
    """Sequential next + submit pairs, one request at a time. Each round, the same annotator
    does one pair in every project (sizes in rotating order), then one floor pair (two bare
    INSERT requests) goes to the floor server: noise falls on all alike."""
    rng = random.Random(11)
    sizes = list(slugs)
    out = {n: {"pair": [], "next": [], "submit": [], "errors": []} for n in [*sizes, "floor"]}
    floor = Client(floor_port)
    deadline = time.monotonic() + 240
    for i in range(rounds):
        if time.monotonic() > deadline:
            break
        for n in sizes[i % len(sizes) :] + sizes[: i % len(sizes)]:
            client = Client(port, tokens[i % len(tokens)])
            t_next, t_submit, outcome = next_and_submit(client, slugs[n], rng)
            client.close()
            if outcome != "ok":
                out[n]["errors"].append(outcome)
                continue
            out[n]["next"].append(t_next)
            out[n]["submit"].append(t_submit)
            out[n]["pair"].append(t_next + t_submit)
        f1, o1 = floor_request(floor, rng)
        f2, o2 = floor_request(floor, rng)
        if o1 == o2 == "ok":
            out["floor"]["pair"].append(f1 + f2)
        else:
            out["floor"]["errors"].append(o1 if o1 != "ok" else o2)
    floor.close()
    return out


def throughput_run(
    port: int, slug: str, tokens: list[str], rounds: int, *, floor: bool, time_limit: float
) -> dict:
    """len(tokens) threads, each an annotator doing `rounds` next + submit pairs (or, for the
    floor, 2 x rounds bare INSERT requests), started together; bounded by time_limit."""
    barrier = threading.Barrier(len(tokens) + 1)
    lock = threading.Lock()
    done = {"judgments": 0, "requests": 0, "latencies": [], "errors": []}
    deadline = [0.0]

    def worker(index: int, token: str) -> None:
        rng = random.Random(index)
        client = Client(port, None if floor else token)
        judgments = requests = 0
        latencies, errors = [], []
        barrier.wait()
        try:
            for _ in range(rounds):
                if time.monotonic() > deadline[0]:
                    break
                if floor:
                    for _ in range(2):
                        elapsed, outcome = floor_request(client, rng)
                        requests += 1
                        latencies.append(elapsed)
                        if outcome == "ok":
                            judgments += 1
                        else:
                            errors.append(outcome)
                    continue
                t_next, t_submit, outcome = next_and_submit(client, slug, rng)
                requests += 2 if t_submit else 1
                if outcome == "ok":
                    judgments += 1
                    latencies.append(t_next + t_submit)
                elif outcome == "empty":
                    break
                else:
                    errors.append(outcome)
        finally:
            client.close()
            with lock:
                done["judgments"] += judgments
                done["requests"] += requests
                done["latencies"].extend(latencies)
                done["errors"].extend(errors)

    threads = [
        threading.Thread(target=worker, args=(i, token), daemon=True)
        for i, token in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + time_limit
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=time_limit + REQUEST_TIMEOUT + 5)
    done["seconds"] = time.perf_counter() - started
    return done


def race_run(port: int, slug: str, tokens: list[str], time_limit: float = 90.0) -> dict:
    """Each thread is one annotator leasing and judging until nothing is left for them."""
    results: dict[str, list] = {"outcomes": []}
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens))
    deadline = time.monotonic() + time_limit

    def worker(index: int, token: str) -> None:
        rng = random.Random(100 + index)
        client = Client(port, token)
        outcomes = []
        barrier.wait()
        for _ in range(400):
            if time.monotonic() > deadline:
                outcomes.append("timeout")
                break
            _, _, outcome = next_and_submit(client, slug, rng)
            outcomes.append(outcome)
            if outcome == "empty":
                break
        client.close()
        with lock:
            results["outcomes"].extend(outcomes)

    threads = [
        threading.Thread(target=worker, args=(i, t), daemon=True) for i, t in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=time_limit + REQUEST_TIMEOUT + 5)
    return results


def profile_pairs(project, tokens: list[str], top: int) -> None:
    """The same next + submit pairs in-process through Django's test client (no HTTP, no
    gunicorn): queries per request, time per pair, and a cProfile of where it goes."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    rng = random.Random(5)
    client = DjangoClient()

    def pair(token: str, capture: bool = False) -> tuple[int, int]:
        auth = {"HTTP_AUTHORIZATION": f"Token {token}", "HTTP_ACCEPT": "application/json"}
        first = CaptureQueriesContext(connection) if capture else contextlib.nullcontext([])
        second = CaptureQueriesContext(connection) if capture else contextlib.nullcontext([])
        with first:
            response = client.get(f"/api/v1/projects/{project.slug}/tasks/next/", **auth)
        assignment = response.json()["assignment"]
        with second:
            response = client.post(
                f"/api/v1/assignments/{assignment}/judgment/",
                data=json.dumps(judgment_body(rng)),
                content_type="application/json",
                **auth,
            )
        assert response.status_code == 201, response.content
        return (len(first), len(second)) if capture else (0, 0)

    counts = [pair(token, capture=True) for token in tokens[:10]]
    timed = []
    for token in tokens[10:60]:
        started = time.perf_counter()
        pair(token)
        timed.append(time.perf_counter() - started)
    profiler = cProfile.Profile()
    profiler.enable()
    for token in tokens[60:120]:
        pair(token)
    profiler.disable()
    print(
        f"\n  (e) in-process (Django test client, no HTTP): {median(timed) * 1000:.1f} ms per "
        f"pair (median of {len(timed)}); SQL statements per request: "
        f"tasks/next {counts[-1][0]}, judgment {counts[-1][1]} (BEGIN/COMMIT included)"
    )
    stats = pstats.Stats(profiler)
    total = max(v[3] for v in stats.stats.values())
    print("      where a pair goes (cumulative, share of the profiled pairs):")
    rows = []
    for (path, _, name), (_, _, _, cumulative, _) in stats.stats.items():
        if ("/work/main/annotation/" in path or "/work/main/api/" in path) or name in (
            "authenticate",
            "execute",
            "commit",
        ):
            rows.append((cumulative, f"{Path(path).parent.name}/{Path(path).name}:{name}"))
    for cumulative, label in sorted(rows, reverse=True)[:top]:
        print(f"        {cumulative / total:6.1%}  {label}")
    print("      top own time (tottime):")
    for line in profile_rows(profiler, "tottime", 12):
        print(f"        {line}")


def measured(pid: int, run):
    """Run a load and return (its result, CPU used by the server tree and the machine)."""
    from bench._harness import machine_cpu, process_tree_cpu

    server_before = process_tree_cpu(pid)
    busy_before, total_before = machine_cpu()
    result = run()
    busy_after, total_after = machine_cpu()
    return result, {
        "server": process_tree_cpu(pid) - server_before,
        "busy": (busy_after - busy_before) / max(total_after - total_before, 1e-9),
    }


def print_latency(label: str, values: list[float]) -> None:
    print(
        f"      {label:<28} median {median(values) * 1000:7.2f} ms   "
        f"p95 {percentile(values, 95) * 1000:7.2f} ms   (n={len(values)})"
    )


def measure_http(args, annotators) -> None:
    from bench._fixtures import scalar
    from bench.floor_app import floor_table_create

    floor_table_create()
    redis = RedisScratch(args.redis_db)
    tokens_h = [key for _, key in annotators["h"][args.live_leases + args.expired_leases :]]
    tokens_f = [key for _, key in annotators["f"]]
    print(
        "\n(b)-(d) through HTTP: gunicorn config.wsgi -w 4 (sync workers), DEBUG=false, "
        f"DB_CONN_MAX_AGE=60, REDIS_URL=redis://127.0.0.1:6379/{args.redis_db}; floor server: "
        "the same with DJANGO_SETTINGS_MODULE=bench.floor_settings; client: http.client, "
        "token auth"
    )
    try:
        with (
            gunicorn(db_name=DB_NAME, redis_db=args.redis_db) as server,
            gunicorn(
                db_name=DB_NAME, settings_module="bench.floor_settings", redis_db=args.redis_db
            ) as floor_server,
        ):
            port, floor_port = server.port, floor_server.port
            projects_reset()
            projects, stats = {}, {}
            for n in args.http_sizes:
                projects[n], stats[n] = project_build(n, slug=f"http-{n}", history=args.history)
            slugs = {n: projects[n].slug for n in args.http_sizes}
            mixed = [t for pair in zip(tokens_h, tokens_f, strict=False) for t in pair]
            warm = latency_run(port, floor_port, slugs, mixed[-40:], 40)
            run = latency_run(port, floor_port, slugs, mixed, args.http_pairs)
            floor = run["floor"]["pair"]
            print(
                f"\n  (b) sequential next + submit pairs, one request at a time, half by "
                f"annotators with history, sizes alternating ({len(warm['floor']['pair'])} "
                "warm-up rounds)"
            )
            p95 = {}
            for n in args.http_sizes:
                print(f"    {n:,} tasks ({stats[n]['open']:,} open)")
                print_latency("GET tasks/next", run[n]["next"])
                print_latency("POST judgment", run[n]["submit"])
                print_latency("pair (next + submit)", run[n]["pair"])
                p95[n] = percentile(run[n]["pair"], 95)
                print(
                    f"      pair p95 / floor pair p95: {p95[n] / percentile(floor, 95):.1f}x; "
                    f"errors: {len(run[n]['errors'])} {run[n]['errors'][:3]}"
                )
            print_latency("floor pair (2 bare INSERTs)", floor)
            small, large = args.http_sizes[0], args.http_sizes[-1]
            project = projects[large]
            growth = p95[large] / p95[small]
            print(
                f"\n      p95 at {large:,}: {p95[large] * 1000:.1f} ms (target <= 20 ms: "
                f"{'MET' if p95[large] <= 0.020 else 'NOT MET'}); growth {small:,} -> "
                f"{large:,}: {growth:.2f}x (target <= 1.2: {'MET' if growth <= 1.2 else 'NOT MET'})"
            )

            print(f"\n  (c) throughput on the {large:,}-task project, fresh annotators")
            offset = 0
            for c in args.concurrency:
                fresh = tokens_f[offset : offset + c]
                offset += c
                product, cpu = measured(
                    server.pid,
                    lambda fresh=fresh: throughput_run(
                        port, project.slug, fresh, args.rounds, floor=False, time_limit=90
                    ),
                )
                bare, floor_cpu = measured(
                    floor_server.pid,
                    lambda fresh=fresh: throughput_run(
                        floor_port, "", fresh, args.floor_rounds, floor=True, time_limit=60
                    ),
                )
                rate = product["judgments"] / product["seconds"]
                floor_rate = bare["judgments"] / bare["seconds"]
                print(
                    f"    {c:>3} concurrent: {product['judgments']} judgments in "
                    f"{product['seconds']:.1f} s = {rate:6.1f} judgments/s "
                    f"({product['requests'] / product['seconds']:.0f} requests/s; pair p95 "
                    f"{percentile(product['latencies'], 95) * 1000:.0f} ms; "
                    f"errors {len(product['errors'])} {product['errors'][:2]})"
                )
                per_judgment = cpu["server"] / max(product["judgments"], 1)
                print(
                    f"         gunicorn CPU {per_judgment * 1000:.1f} ms per judgment; "
                    f"machine CPU busy {cpu['busy']:.0%} of 2 cores"
                )
                print(
                    f"         floor: {bare['judgments']} bare INSERT requests in "
                    f"{bare['seconds']:.1f} s = {floor_rate:6.1f} rows/s (p95 "
                    f"{percentile(bare['latencies'], 95) * 1000:.0f} ms; gunicorn CPU "
                    f"{floor_cpu['server'] / max(bare['judgments'], 1) * 1000:.1f} ms per "
                    f"request; machine busy {floor_cpu['busy']:.0%}; errors {len(bare['errors'])})"
                )
                verdict = (
                    f"; target >= 100 judgments/s: {'MET' if rate >= 100 else 'NOT MET'}"
                    if c == 8
                    else ""
                )
                print(
                    f"         judgments/s / floor rows/s = {rate / floor_rate:.3f} (a judgment "
                    f"takes two requests, so 0.5 would match the floor){verdict}"
                )

            profile_pairs(project, tokens_f[offset : offset + 120], args.profile_top)
            offset += 120

            race_project, _ = project_build(
                args.race_tasks,
                slug="race",
                history=0,
                gold_rate=0.0,
                mixed_counts=False,
            )
            race_tokens = tokens_f[offset : offset + args.race_threads]
            race = race_run(port, race_project.slug, race_tokens)
            pid = race_project.pk
            over = scalar(
                "SELECT count(*) FROM (SELECT t.id FROM annotation_task t LEFT JOIN "
                "annotation_judgment j ON j.task_id = t.id WHERE t.project_id = %s "
                "GROUP BY t.id HAVING count(j.id) > %s) AS x",
                [pid, K],
            )
            under = scalar(
                "SELECT count(*) FROM (SELECT t.id FROM annotation_task t LEFT JOIN "
                "annotation_judgment j ON j.task_id = t.id WHERE t.project_id = %s "
                "GROUP BY t.id HAVING count(j.id) < %s) AS x",
                [pid, K],
            )
            drift = scalar(
                "SELECT count(*) FROM annotation_task t WHERE t.project_id = %s AND "
                "t.judgment_count <> (SELECT count(*) FROM annotation_judgment j "
                "WHERE j.task_id = t.id)",
                [pid],
            )
            outcomes = defaultdict(int)
            for outcome in race["outcomes"]:
                outcomes[outcome.split(":")[0]] += 1
            print(
                f"\n  (d) race: {args.race_threads} annotator threads, {args.race_tasks} tasks, "
                f"k={K}: tasks over k {over}, under k {under} (target 0: "
                f"{'MET' if over == 0 and under == 0 else 'NOT MET'}); judgment_count "
                f"differing from the judgments stored: {drift}; outcomes {dict(outcomes)}"
            )
    finally:
        removed = redis.cleanup()
        print(f"\n  (removed {removed} keys the servers wrote to Redis db {args.redis_db})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k tasks, fewer calls")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--http-sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--annotators", type=int, default=10_000, help="with history")
    parser.add_argument("--fresh", type=int, default=1_000, help="annotators without history")
    parser.add_argument("--history", type=int, default=5, help="submitted judgments each")
    parser.add_argument("--live-leases", type=int, default=50)
    parser.add_argument("--expired-leases", type=int, default=500)
    parser.add_argument("--calls", type=int, help="lease calls per group and size")
    parser.add_argument("--http-pairs", type=int)
    parser.add_argument("--rounds", type=int, help="next + submit pairs per client in (c)")
    parser.add_argument("--floor-rounds", type=int, help="floor request pairs per client")
    parser.add_argument("--race-tasks", type=int, default=200)
    parser.add_argument("--race-threads", type=int, default=8)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--profile-top", type=int, default=22)
    args = parser.parse_args()
    args.sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    args.http_sizes = args.http_sizes or [1_000, 20_000]
    args.concurrency = args.concurrency or [8, 50]
    args.calls = args.calls or (80 if args.quick else 200)
    args.http_pairs = args.http_pairs or (100 if args.quick else 400)
    args.rounds = args.rounds or (5 if args.quick else 20)
    args.floor_rounds = args.floor_rounds or 5 * args.rounds

    django_setup(DB_NAME)
    print(f"bench_assignment  {today()}  {server_versions()}\n")
    annotators = annotators_create(args.annotators, args.fresh)
    if not args.skip_in_process:
        measure_in_process(args, annotators, args.sizes)
    if not args.skip_http:
        measure_http(args, annotators)


if __name__ == "__main__":
    main()
