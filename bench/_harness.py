"""Shared plumbing of the benchmarks: a scratch Postgres database per script, Django set up
against it, percentiles, and a gunicorn server that is always stopped.

Only 127.0.0.1 is ever contacted. A script drops and re-creates its own database (named
`prefpanel_bench_*`) and nothing else.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


def database_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def database_recreate(name: str) -> None:
    """Drop (if present) and create this script's own scratch database."""
    import psycopg

    if not name.startswith("prefpanel_bench"):
        raise ValueError("benchmarks only ever drop databases named prefpanel_bench*")
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# Benchmarks run as production does (DEBUG off), which needs a SECRET_KEY of its own: one
# random key for this run, inherited by the servers it starts.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def django_setup(db_name: str, *, recreate: bool = True) -> None:
    """Point Django at the scratch database (before setup), create it, migrate it."""
    if recreate:
        database_recreate(db_name)
    os.environ["DATABASE_URL"] = database_url(db_name)
    os.environ["DEBUG"] = "false"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def server_versions() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return f"PostgreSQL {version}, database {connection.settings_dict['NAME']}"


def today() -> str:
    return dt.date.today().isoformat()


def vacuum_analyze(*tables: str) -> None:
    """Production tables have statistics and a visibility map; a fresh bulk load has neither."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def profile_rows(profiler, sort: str, limit: int) -> list[str]:
    """The table rows of a cProfile report (header included), without pstats' preamble."""
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(limit)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return lines[start:]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


@contextlib.contextmanager
def timer() -> Iterator[list[float]]:
    """`with timer() as t: ...` then t[0] is the elapsed seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


# ------------------------------------------------------------------------------ gunicorn


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_SERVERS: list[subprocess.Popen] = []


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the gunicorn master we started (it stops its workers), then make sure."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        # The master was started in its own process group: end exactly that group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _stop_all() -> None:
    while _SERVERS:
        _stop(_SERVERS.pop())


atexit.register(_stop_all)


def _on_signal(signum, frame):  # pragma: no cover - interactive interruption
    _stop_all()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children (the
    gunicorn master and its workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _proc_stat(int(entry))
        if fields and (int(entry) == pid or int(fields[1]) == pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


@contextlib.contextmanager
def gunicorn(
    *,
    db_name: str,
    settings_module: str = "config.settings",
    workers: int = 4,
    redis_db: int | None = None,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """Run `gunicorn config.wsgi -w N` on a free 127.0.0.1 port, as production would:
    DEBUG off, persistent database connections; yield its port and pid; always stop it."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(db_name),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "ERROR",
    }
    if redis_db is None:
        env.pop("REDIS_URL", None)
    else:
        env["REDIS_URL"] = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    _SERVERS.append(process)
    try:
        _wait_until_serving(port, process)
        yield Server(port, process.pid)
    finally:
        _stop(process)
        if process in _SERVERS:
            _SERVERS.remove(process)
        log.close()


def _wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/projects/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start serving in time")


# ------------------------------------------------------------------------------ redis


class RedisScratch:
    """A Redis database index used only by the benchmark's server (for its cache and
    broker, as in production); it must be empty at start, and what it holds at the end
    was written by the run, so those keys are deleted one by one."""

    def __init__(self, db: int) -> None:
        import redis

        self.db = db
        self.client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        if self.client.dbsize():
            raise SystemExit(
                f"Redis database {db} is not empty; pass --redis-db with an unused index"
            )

    def cleanup(self) -> int:
        keys = list(self.client.scan_iter(count=1000))
        if keys:
            self.client.delete(*keys)
        return len(keys)
