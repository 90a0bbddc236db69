"""The streamed export (`GET /api/v1/projects/{slug}/export/`) through gunicorn, against a
COPY of the same rows, and the memory of the worker that serves it.

Run:  .venv/bin/python bench/bench_export.py [--quick] [--tasks 200000] [--rebuild]

The fixture is bench_report's pairwise project (N/5 tasks x 5 annotators, 3 criteria, 1%
gold), built with bulk SQL in its own database `prefpanel_bench_export`, which is reused
when it already holds a project of the right size (`--rebuild` forces a new one).

gunicorn runs with ONE sync worker (so its memory is that of the export) with DEBUG=false,
persistent connections and --timeout 600. Each export is read with http.client into a
counting sink while a thread samples the worker's VmRSS every 50 ms; memory growth of a
request = sampled max - RSS right before it. Measured:
  * format=judgments, filetype=jsonl and parquet, all rows, and the last 1,000 judgments
    (`since=<id>`): rows/s and memory growth from 1k to N rows (target <= 30 MB);
  * format=dpo, jsonl, once (pairs/s and judgments read/s), and once with
    label=dawid_skene; format=labels, jsonl, once (both fit Dawid-Skene on every vote);
  * the floor: COPY (<the export's own SQL: judgment columns joined with task, item,
    responses, annotator, same filters>) TO STDOUT through psycopg into a counting sink
    (target: export rows/s / COPY rows/s >= 0.6);
and, in-process, a cProfile of the judgments JSONL stream (COPY, Arrow, JSON Lines).
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _harness
from bench._harness import (
    ROOT,
    database_url,
    django_setup,
    free_port,
    median,
    profile_rows,
    server_versions,
    today,
)

DB_NAME = "prefpanel_bench_export"
SLUG = "report"  # bench_report's fixture
RESEARCHER = "bench-researcher"
RATIO_TARGET = 0.6
MEMORY_TARGET_MB = 30.0
SAMPLE_EVERY = 0.05
MIB = 1024 * 1024


# ------------------------------------------------------------------------------ fixture


def fixture_size(n_judgments: int) -> int | None:
    """Judgments of the project in an existing bench database, or None when absent."""
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            return None
    try:
        with psycopg.connect(database_url(DB_NAME), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM annotation_judgment j JOIN annotation_project p "
                "ON p.id = j.project_id WHERE p.slug = %s",
                [SLUG],
            ).fetchone()
    except psycopg.Error:
        return None
    return row[0] if row else None


def setup(n_tasks: int, rebuild: bool) -> tuple[object, str, bool]:
    """Django against the bench database (reused or rebuilt); the project and a token."""
    from bench.bench_report import ANNOTATORS_PER_TASK

    wanted = n_tasks * ANNOTATORS_PER_TASK
    reuse = not rebuild and fixture_size(wanted) == wanted
    django_setup(DB_NAME, recreate=not reuse)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotation.models import Project
    from bench.bench_report import project_build

    project = Project.objects.get(slug=SLUG) if reuse else project_build(n_tasks, 500)
    user, _ = get_user_model().objects.get_or_create(
        username=RESEARCHER, defaults={"is_staff": True, "is_superuser": True}
    )
    if project.owner_id != user.pk:
        project.owner = user
        project.save(update_fields=["owner"])
    token, _ = Token.objects.get_or_create(user=user)
    return project, token.key, reuse


# ------------------------------------------------------------------------------ server


@contextmanager
def gunicorn_one_worker(log_path: Path):
    """`gunicorn config.wsgi -w 1 --timeout 600` on 127.0.0.1; yields (port, worker pid);
    always stopped (harness: SIGTERM to the master, then its process group)."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(DB_NAME),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "ERROR",
    }
    env.pop("REDIS_URL", None)
    log = open(log_path, "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    _harness._SERVERS.append(process)
    try:
        _harness._wait_until_serving(port, process)
        yield port, worker_pid(process.pid)
    finally:
        _harness._stop(process)
        if process in _harness._SERVERS:
            _harness._SERVERS.remove(process)
        log.close()


def worker_pid(master: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [
            int(entry)
            for entry in os.listdir("/proc")
            if entry.isdigit() and (_harness._proc_stat(int(entry)) or ["", "0"])[1] == str(master)
        ]
        if len(children) == 1:
            return children[0]
        time.sleep(0.1)
    raise RuntimeError("could not find the single gunicorn worker")


def rss(pid: int, key: str = "VmRSS") -> int:
    """Bytes of VmRSS (or VmHWM) of a process, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for {pid}")


# ------------------------------------------------------------------------------ client


def fetch(port: int, token: str, path: str, worker: int) -> dict:
    """One export into a counting sink, with the worker's RSS sampled during it."""
    before = rss(worker)
    samples = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY):
            try:
                samples.append(rss(worker))
            except (OSError, RuntimeError):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    n_bytes = n_lines = 0
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status} {response.read()[:300]!r}")
        with open(os.devnull, "wb") as sink:
            while block := response.read(1 << 20):
                sink.write(block)
                n_bytes += len(block)
                n_lines += block.count(b"\n")
    finally:
        conn.close()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join(timeout=2)
    samples.append(rss(worker))
    return {
        "seconds": elapsed,
        "bytes": n_bytes,
        "lines": n_lines,
        "rss_before": before,
        "rss_after": samples[-1],
        "rss_peak": max(samples),
        "growth": max(samples) - before,
        "hwm": rss(worker, "VmHWM"),
    }


# ------------------------------------------------------------------------------ floor


def export_sql(project, since: int | None = None) -> tuple[str, list]:
    """The SQL the judgments export runs (same columns, joins, filters, order)."""
    from annotation.exports.query import ExportFilters
    from annotation.exports.readers import JUDGMENT_COLUMNS, judgments_for_export

    queryset = judgments_for_export(project=project, filters=ExportFilters(since=since))
    sql, params = queryset.values_list(*JUDGMENT_COLUMNS).query.sql_with_params()
    return sql, list(params)


def copy_floor(sql: str, params: list) -> tuple[float, int, int]:
    """COPY (<sql>) TO STDOUT into a counting sink: (seconds, rows, bytes)."""
    from django.db import connection

    n_bytes = n_rows = 0
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy,
    ):
        for block in copy:
            n_bytes += len(block)
            n_rows += bytes(block).count(b"\n")
    return time.perf_counter() - started, n_rows, n_bytes


def profile_export(project, n_rows: int, top: int) -> tuple[float, list[str]]:
    """cProfile of the judgments JSONL stream in-process (COPY -> Arrow columns -> JSON Lines,
    the path the server takes on PostgreSQL) over the last n_rows judgments."""
    from annotation.exports.encoders import export_stream
    from annotation.exports.plan import export_plan
    from annotation.exports.query import ExportFilters, ExportQuery
    from annotation.models import Judgment

    since = (
        Judgment.objects.filter(project=project)
        .order_by("-pk")
        .values_list("pk", flat=True)[n_rows : n_rows + 1]
        .first()
    )
    query = ExportQuery("judgments", "jsonl", ExportFilters(since=since))
    plan = export_plan(project=project, query=query)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in export_stream(plan=plan):
        pass
    profiler.disable()
    return time.perf_counter() - started, profile_rows(profiler, "tottime", top)


# ------------------------------------------------------------------------------ main


def mb(n: float) -> str:
    return f"{n / MIB:7.1f} MiB"


def main() -> None:
    global DB_NAME
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, help="tasks (x5 judgments); default 200,000")
    parser.add_argument("--quick", action="store_true", help="20k tasks (100k judgments)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the fixture")
    parser.add_argument("--copies", type=int, default=3, help="COPY floor runs (median)")
    parser.add_argument("--profile-rows", type=int, default=100_000)
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--database", default=DB_NAME, help=f"bench database (default {DB_NAME})")
    args = parser.parse_args()
    DB_NAME = args.database
    n_tasks = args.tasks or (20_000 if args.quick else 200_000)
    run_started = time.perf_counter()

    started = time.perf_counter()
    project, token, reused = setup(n_tasks, args.rebuild)
    from annotation.models import Judgment

    n_judgments = Judgment.objects.filter(project=project).count()
    print(f"bench_export  {today()}  {server_versions()}")
    print(
        f"{n_judgments:,} judgments ({n_tasks:,} tasks x 5, 3 criteria, 1% gold), "
        f"{'reused' if reused else 'built'} in {time.perf_counter() - started:.0f} s\n"
    )
    since = (
        Judgment.objects.filter(project=project)
        .order_by("-pk")
        .values_list("pk", flat=True)[1000:1001]
        .first()
    )

    sql, params = export_sql(project)
    copy_floor(sql, params)  # warm the cache, as the export's own first read would be
    copies = [copy_floor(sql, params) for _ in range(args.copies)]
    t_copy = median([c[0] for c in copies])
    copy_rows = copies[0][1]
    copy_rate = copy_rows / t_copy
    print(
        f"COPY floor: {copy_rows:,} rows, {copies[0][2] / MIB:.1f} MiB, "
        f"{', '.join(f'{c[0]:.2f}' for c in copies)} s -> median {t_copy:.2f} s, "
        f"{copy_rate:,.0f} rows/s"
    )

    base = f"/api/v1/projects/{project.slug}/export/?format="
    results: dict[str, dict] = {}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_export_gunicorn.log"
    with gunicorn_one_worker(log_path) as (port, worker):
        print(f"gunicorn -w 1 on 127.0.0.1:{port}, worker pid {worker}, RSS {mb(rss(worker))}")
        plan = [
            ("warm-up 1k jsonl", f"judgments&filetype=jsonl&since={since}"),
            ("warm-up 1k parquet", f"judgments&filetype=parquet&since={since}"),
            ("judgments jsonl 1k", f"judgments&filetype=jsonl&since={since}"),
            ("judgments jsonl N", "judgments&filetype=jsonl"),
            ("judgments parquet 1k", f"judgments&filetype=parquet&since={since}"),
            ("judgments parquet N", "judgments&filetype=parquet"),
            ("dpo jsonl N", "dpo&filetype=jsonl"),
            ("dpo dawid_skene jsonl N", "dpo&filetype=jsonl&label=dawid_skene"),
            ("labels jsonl N", "labels&filetype=jsonl"),
        ]
        for name, query in plan:
            results[name] = fetch(port, token, base + query, worker)
            r = results[name]
            print(
                f"  {name:22} {r['seconds']:8.2f} s  {r['bytes'] / MIB:8.1f} MiB  "
                f"{r['lines']:>9,} lines  RSS {mb(r['rss_before'])} -> peak "
                f"{mb(r['rss_peak'])} -> {mb(r['rss_after'])}"
            )
        final_hwm = rss(worker, "VmHWM")

    n_rows = results["judgments jsonl N"]["lines"]
    if n_rows != copy_rows:
        print(f"WARNING: export returned {n_rows:,} rows, COPY {copy_rows:,}")
    small_rows = results["judgments jsonl 1k"]["lines"]

    print(f"\nResults ({n_judgments:,} judgments; {n_rows:,} pass the default filters)\n")
    header = (
        f"| {'export':24} | {'rows':>9} | {'time':>8} | {'rows/s':>9} | {'/ COPY':>6} "
        f"| {'RSS before':>11} | {'peak':>11} | {'growth':>10} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    ratios = {}
    for name, r in results.items():
        if name.startswith("warm"):
            continue
        rows = n_rows if name.endswith(" N") else small_rows
        if name.startswith(("dpo", "labels")):
            rows = r["lines"]
        rate = rows / r["seconds"]
        ratios[name] = rate / copy_rate
        print(
            f"| {name:24} | {rows:>9,} | {r['seconds']:6.2f} s | {rate:>9,.0f} | "
            f"{ratios[name]:6.3f} | {mb(r['rss_before'])} | {mb(r['rss_peak'])} | "
            f"{r['growth'] / MIB:6.1f} MiB |"
        )
    print(
        f"| {'COPY (floor)':24} | {copy_rows:>9,} | {t_copy:6.2f} s | {copy_rate:>9,.0f} | "
        f"{1:6.3f} | {'':>11} | {'':>11} | {'':>10} |"
    )
    dpo = results["dpo jsonl N"]
    print(
        f"\ndpo: {dpo['lines']:,} pairs from {n_rows:,} judgments in {dpo['seconds']:.2f} s "
        f"= {n_rows / dpo['seconds']:,.0f} judgments read/s"
    )
    print(f"worker VmHWM at the end (lifetime peak): {mb(final_hwm)}")

    print("\nTargets")
    for filetype in ("jsonl", "parquet"):
        ratio = ratios[f"judgments {filetype} N"]
        big = results[f"judgments {filetype} N"]
        small = results[f"judgments {filetype} 1k"]
        growth = (big["rss_peak"] - small["rss_peak"]) / 1e6
        print(
            f"  {filetype:8} rows/s / COPY rows/s = {ratio:.3f} (target >= {RATIO_TARGET}): "
            f"{'met' if ratio >= RATIO_TARGET else 'NOT MET'}"
        )
        print(
            f"  {filetype:8} memory growth 1k -> {n_rows:,} rows (peak RSS N - peak RSS 1k) = "
            f"{growth:+.1f} MB (per-request growth {small['growth'] / 1e6:.1f} -> "
            f"{big['growth'] / 1e6:.1f} MB; target <= {MEMORY_TARGET_MB:.0f} MB): "
            f"{'met' if growth <= MEMORY_TARGET_MB else 'NOT MET'}"
        )

    if args.profile_rows:
        n = min(args.profile_rows, n_rows)
        elapsed, lines = profile_export(project, n, args.profile_top)
        print(
            f"\ncProfile in-process, judgments JSONL, {n:,} rows: {elapsed:.2f} s under the "
            f"profiler ({n / elapsed:,.0f} rows/s); top {args.profile_top} by own time:"
        )
        for line in lines:
            print("  " + line[:150])
    print(f"\ntotal {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
