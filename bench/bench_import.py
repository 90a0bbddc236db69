"""Import of N pairwise items (2 responses each) through items_import, against the floor of a
COPY of the same JSONL lines into a one-column text table, in the same database and run.

Run:  .venv/bin/python bench/bench_import.py [--items 20000] [--runs 3] [--quick]

Prints the import time, the COPY time, the ratio COPY / import (target >= 0.25), where the
import spends its time (SQL statements vs Python) and the top of a cProfile of one import.
Works in its own database `prefpanel_bench_import` (dropped and re-created at start).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import django_setup, median, profile_rows, server_versions, today

DB_NAME = "prefpanel_bench_import"
TARGET = 0.25
SENTENCE = (
    "the model answer explains why a careful reader would prefer shorter sentences with "
    "concrete examples and fewer hedges while keeping every step of the reasoning visible"
)
WORDS = tuple(SENTENCE.split())


def jsonl_lines(n_items: int, seed: int = 0) -> list[str]:
    """Pairwise items as an annotator would upload them: a prompt, two responses of a few
    hundred words from two of 20 models, some metadata."""
    rng = random.Random(seed)

    def text(n_words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n_words))

    lines = []
    for i in range(n_items):
        a, b = rng.sample(range(20), 2)
        row = {
            "id": f"item-{i:07d}",
            "prompt": f"Question {i}: {text(40)}?",
            "responses": [
                {"id": "r1", "model": f"model-{a:02d}", "text": text(rng.randint(80, 160))},
                {"id": "r2", "model": f"model-{b:02d}", "text": text(rng.randint(80, 160))},
            ],
            "metadata": {"source": "bench", "split": rng.choice(["train", "test"]), "n": i},
        }
        lines.append(json.dumps(row, ensure_ascii=False))
    return lines


def copy_floor(payload: bytes) -> float:
    """COPY the raw lines into a one-column text table and commit: the cheapest way to put
    the same bytes into the same database. Delimiter and quote are control characters that
    JSON text never holds raw, so the lines go through unchanged."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_import_lines (line text)")
        cursor.execute("TRUNCATE bench_import_lines")
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY bench_import_lines (line) FROM STDIN "
            "WITH (FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e')"
        ) as copy,
    ):
        view = memoryview(payload)
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])
    return time.perf_counter() - started


def new_project(slug: str):
    from annotation.models import Project

    return Project.objects.create(slug=slug, name=slug, kind=Project.Kind.PAIRWISE)


class SqlClock:
    """Counts statements and the time spent waiting on them (connection.execute_wrapper),
    also by kind (the first words of the statement)."""

    def __init__(self) -> None:
        self.statements = 0
        self.seconds = 0.0
        self.by_kind: dict[str, list[float]] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.statements += 1
            words = sql.split()
            kind = " ".join(words[:3] if words[0] in ("INSERT", "UPDATE") else words[:1])
            if words[0] == "SELECT" and "FROM" in words:
                kind = f"SELECT FROM {words[words.index('FROM') + 1]}"
            entry = self.by_kind.setdefault(kind, [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed

    def print_kinds(self, indent: str = "  ") -> None:
        for kind, (count, seconds) in sorted(self.by_kind.items(), key=lambda kv: -kv[1][1]):
            print(f"{indent}{seconds:7.2f} s  x{count:<4} {kind}")


def import_once(payload: bytes, slug: str, clock: SqlClock | None = None) -> tuple[float, dict]:
    from django.db import connection

    from annotation.services.importing import items_import

    project = new_project(slug)
    started = time.perf_counter()
    if clock is None:
        result = items_import(project=project, content=payload, filetype="jsonl")
    else:
        with connection.execute_wrapper(clock):
            result = items_import(project=project, content=payload, filetype="jsonl")
    return time.perf_counter() - started, result.as_dict()


def reimport_once(project, payload: bytes) -> tuple[float, object, SqlClock]:
    """items_import of a file into a project that already holds its ids."""
    from django.db import connection

    from annotation.services.importing import items_import

    clock = SqlClock()
    started = time.perf_counter()
    with connection.execute_wrapper(clock):
        result = items_import(project=project, content=payload, filetype="jsonl")
    return time.perf_counter() - started, result, clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="imports (and 2x as many COPYs)")
    parser.add_argument("--quick", action="store_true", help="one import, no re-import")
    parser.add_argument("--profile-top", type=int, default=18)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs

    django_setup(DB_NAME)
    from annotation.models import Item, Response, Task
    from annotation.services.importing import items_import

    lines = jsonl_lines(args.items)
    payload = ("\n".join(lines) + "\n").encode()
    print(f"bench_import  {today()}  {server_versions()}")
    print(
        f"{args.items:,} pairwise items, 2 responses each, {len(payload) / 2**20:.1f} MiB of "
        f"JSONL; {runs} import run(s)\n"
    )

    copy_times = [copy_floor(payload) for _ in range(2 * runs + 1)][1:]  # first one warms up
    import_times = []
    clock = SqlClock()
    for run in range(runs):
        elapsed, counts = import_once(payload, f"import-{run}", clock if run == runs - 1 else None)
        import_times.append(elapsed)
        print(f"  import run {run + 1}: {elapsed:7.2f} s  {counts}")
    copy_times += [copy_floor(payload) for _ in range(runs)]

    t_import, t_copy = median(import_times), median(copy_times)
    ratio = t_copy / t_import
    print()
    print(f"{'COPY of the same lines (floor), median':<44} {t_copy:8.3f} s")
    print(f"{'items_import, median':<44} {t_import:8.3f} s")
    print(
        f"{'ratio COPY / import':<44} {ratio:8.3f}   target >= {TARGET}: "
        f"{'MET' if ratio >= TARGET else 'NOT MET'}"
    )
    print(f"{'items per second (import)':<44} {args.items / t_import:8,.0f}")
    print(
        f"\nlast import: {clock.statements:,} SQL statements besides the COPYs (which the clock "
        f"does not see), {clock.seconds:.2f} s waiting on them; by statement:"
    )
    clock.print_kinds("    ")

    # Where a fresh import spends its time: the phases, measured separately.
    import gc

    from django.db import connection, transaction

    from annotation.services import importing

    project = new_project("import-phases")
    gc.disable()  # as items_import does while it works
    started = time.perf_counter()
    rows, _ = importing.read_rows_lenient(payload, filetype="jsonl")
    t_read = time.perf_counter() - started
    started = time.perf_counter()
    specs = importing.parse_item_rows(project, rows)
    t_parse = time.perf_counter() - started
    phase_clock = SqlClock()
    started = time.perf_counter()
    with transaction.atomic():
        with connection.execute_wrapper(phase_clock):
            importing._write_specs(project, specs, importing.ImportResult())
        t_write = time.perf_counter() - started
    t_commit = time.perf_counter() - started - t_write
    gc.enable()
    print("\nphases of one import (fresh project)")
    print(f"  read_rows_lenient (json.loads per line)    {t_read:7.2f} s")
    print(f"  parse_item_rows (validate)                 {t_parse:7.2f} s")
    print(
        f"  _write_specs (3 COPYs, ids reserved)       {t_write:7.2f} s "
        f"({phase_clock.seconds:.2f} s in {phase_clock.statements} other statements)"
    )
    print(f"  commit (deferred foreign-key checks)       {t_commit:7.2f} s")

    if not args.quick:
        # The same file again (nothing differs, so nothing is rewritten), then a file with the
        # same ids whose prompts, metadata, models and texts all differ (every row rewritten).
        changed = ("\n".join(jsonl_lines(args.items, seed=1)) + "\n").encode()
        for label, content in (
            ("re-import of the same file", payload),
            ("re-import, every item's content changed", changed),
        ):
            t_reimport, result, reimport_clock = reimport_once(project, content)
            print(
                f"\n{label}: {t_reimport:.2f} s (COPY / re-import {t_copy / t_reimport:.3f})  "
                f"{result.as_dict()}"
            )
            print(
                f"  {reimport_clock.statements} statements besides the COPYs, "
                f"{reimport_clock.seconds:.2f} s waiting on the database, by statement:"
            )
            reimport_clock.print_kinds("    ")

    profiler = cProfile.Profile()
    profiled = new_project("import-profile")
    profiler.enable()
    items_import(project=profiled, content=payload, filetype="jsonl")
    profiler.disable()
    print("\ncProfile of one import, by own time (tottime):")
    print("\n".join(profile_rows(profiler, "tottime", args.profile_top)))
    print(
        f"database now holds {Item.objects.count():,} items, {Response.objects.count():,} "
        f"responses, {Task.objects.count():,} tasks"
    )


if __name__ == "__main__":
    main()
