"""Fault scenarios on a private PostgreSQL and Redis: prints numbers, not a test.

    .venv/bin/python bench/faults.py [--annotators 24] [--items 600] [--hang 20] [SCENARIO ...]

SCENARIO is any of hung-redis, pg-restart, worker-kill, full-disk (default: all, in order).

Starts its own PostgreSQL (initdb into a temp dir, fsync off, a free port) and Redis (no
persistence, a free port), migrates, starts gunicorn and a Celery worker, and drives N
annotators who lease and vote, retrying a failed vote with the same body on the same
assignment. Scenarios, one after another: a hung Redis (SIGSTOP), a PostgreSQL restart (for
each: votes acknowledged vs stored, latency during the fault, HTTP statuses seen); the worker
SIGKILLed while a snapshot builds, with beat running (how long until the snapshot is ready,
its files, partial files left);
a snapshot on a full disk (its status and the files left). Every process and temp
dir it starts is removed at exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import ROOT, free_port, percentile

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
DB_NAME = "prefpanel_chaos"
SNAPSHOT_QUERY = {"format": "judgments", "filetype": "jsonl", "exclude_flagged": False}
_PROCESSES: list[subprocess.Popen] = []
_CLEANUPS: list = []


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: the server runs as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=handle, stderr=handle, start_new_session=True
    )
    _PROCESSES.append(process)
    return process


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """End the process group we started for this process (never anything else)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGCONT)
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    if process in _PROCESSES:
        _PROCESSES.remove(process)


def cleanup() -> None:
    while _PROCESSES:
        stop(_PROCESSES.pop())
    while _CLEANUPS:
        with contextlib.suppress(Exception):
            _CLEANUPS.pop()()


def _on_signal(signum, frame):  # pragma: no cover - interactive interruption
    raise SystemExit(128 + signum)


# ------------------------------------------------------------------------------ services


class Postgres:
    def __init__(self, base: Path) -> None:
        self.data = base / "pg"
        self.data.mkdir()
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(base, "postgres")
            shutil.chown(self.data, "postgres")
        subprocess.run(
            _as_postgres(
                [f"{PG_BIN}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        self.options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _CLEANUPS.append(self.stop)
        self.ctl("start")
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    def url(self, name: str = DB_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def ctl(self, action: str, *extra: str) -> None:
        subprocess.run(
            _as_postgres(
                [
                    f"{PG_BIN}/pg_ctl",
                    "-D",
                    str(self.data),
                    "-o",
                    self.options,
                    "-w",
                    "-l",
                    str(self.data / "server.log"),
                    *extra,
                    action,
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.ctl("stop", "-m", "immediate")


class Annotators:
    """N threads that lease and vote until stopped; a vote that fails (timeout, 5xx, a
    dropped connection) is retried with the same body on the same assignment until 201, or
    until the API says it is over (410, 409, 403)."""

    def __init__(self, port: int, slug: str, tokens: list[str]) -> None:
        self.port, self.slug, self.tokens = port, slug, tokens
        self.lock = threading.Lock()
        self.acked: list[int] = []
        self.votes: list[tuple[float, float, int]] = []  # (finished at, seconds, status)
        self.leases: list[tuple[float, float, int]] = []
        self.content_types: collections.Counter = collections.Counter()
        self.retry_after = 0
        self.running = threading.Event()
        self.threads: list[threading.Thread] = []

    def _request(self, conn_box, token, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json", "Authorization": f"Token {token}"}
        if data:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            conn = conn_box[0]
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
            if status >= 500:
                with self.lock:
                    self.content_types[(status, response.getheader("Content-Type", ""))] += 1
                    self.retry_after += bool(response.getheader("Retry-After"))
        except (http.client.HTTPException, OSError):
            conn_box[0].close()
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            status, payload = 0, b""  # 0: timeout or dropped connection
        return status, payload, time.perf_counter() - started

    def _run(self, index: int) -> None:
        token = self.tokens[index]
        box = [http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)]
        sides = ("left", "right", "tie")
        while self.running.is_set():
            status, payload, seconds = self._request(
                box, token, "GET", f"/api/v1/projects/{self.slug}/tasks/next/"
            )
            with self.lock:
                self.leases.append((time.monotonic(), seconds, status))
            if status == 204:
                time.sleep(1)
                continue
            if status != 200:
                time.sleep(0.2)
                continue
            assignment = json.loads(payload)["assignment"]
            body = {"choice": sides[(index + assignment) % 3]}
            while True:  # the same vote until it is acknowledged or refused for good
                status, payload, seconds = self._request(
                    box, token, "POST", f"/api/v1/assignments/{assignment}/judgment/", body
                )
                with self.lock:
                    self.votes.append((time.monotonic(), seconds, status))
                    if status in (200, 201):
                        self.acked.append(assignment)
                if status in (200, 201, 403, 409, 410) or not self.running.is_set():
                    break
                time.sleep(0.2)
        box[0].close()

    def start(self) -> None:
        self.running.set()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True)
            for i in range(len(self.tokens))
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=30)


# ------------------------------------------------------------------------------ fixture


def fixture(n_items: int, n_annotators: int):
    """A researcher, a pairwise project with n_items items (k=3) and annotators with tokens."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from annotation.models import Annotator
    from annotation.services.importing import items_import
    from annotation.services.projects import project_create

    users = get_user_model()
    owner = users.objects.create_user("chaos-owner", password=secrets.token_hex(8), is_staff=True)
    project = project_create(owner=owner, slug="chaos", name="chaos", kind="pairwise")
    lines = [
        json.dumps(
            {
                "id": f"q{i}",
                "prompt": f"Question {i}: " + "lorem ipsum " * 40,
                "responses": [
                    {"id": "a", "model": "m-a", "text": "answer a " * 60},
                    {"id": "b", "model": "m-b", "text": "answer b " * 60},
                ],
            }
        )
        for i in range(n_items)
    ]
    items_import(project=project, content="\n".join(lines).encode())
    tokens = []
    for i in range(n_annotators):
        user = users.objects.create_user(f"chaos-{i}", password=secrets.token_hex(8))
        Annotator.objects.create(user=user, pseudonym=f"chaos-{i}")
        tokens.append(Token.objects.create(user=user).key)
    return project, Token.objects.create(user=owner).key, tokens


def stored_check(project, acked: list[int]) -> dict:
    """What the database holds against what the annotators were told. While annotators run,
    `stored` may exceed the acknowledged count by the votes in flight; the count taken once
    they stopped is exact."""
    from django.db import connection
    from django.db.models import Count

    from annotation.models import Judgment

    acked = list(acked)  # before the query: a vote acknowledged later is not "lost"
    connection.close()  # the server may have restarted under us
    judged = set(Judgment.objects.filter(project=project).values_list("assignment_id", flat=True))
    doubled = (
        Judgment.objects.filter(project=project)
        .values("task_id", "annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "acknowledged": len(acked),
        "acknowledged_distinct": len(set(acked)),
        "stored": len(judged),
        "lost": len(set(acked) - judged),
        "doubled": doubled,
    }


# ------------------------------------------------------------------------------ report


def report(name: str, crowd: Annotators, project, window: tuple[float, float]) -> None:
    start, end = window
    during = [s for t, s, _ in crowd.votes if start <= t <= end + 1]
    statuses = collections.Counter(code for t, _, code in crowd.votes if start <= t <= end + 1)
    lease_statuses = collections.Counter(c for t, _, c in crowd.leases if start <= t <= end + 1)
    counts = stored_check(project, crowd.acked)
    print(f"\n== {name}")
    print(
        f"  votes acknowledged {counts['acknowledged']}"
        f" (distinct {counts['acknowledged_distinct']}),"
        f" stored {counts['stored']}, lost {counts['lost']}, doubled {counts['doubled']}"
    )
    if during:
        print(
            f"  vote attempts during the fault: {len(during)},"
            f" p50 {percentile(during, 50) * 1000:.0f} ms,"
            f" p95 {percentile(during, 95) * 1000:.0f} ms, max {max(during) * 1000:.0f} ms"
        )
    print(f"  vote statuses during the fault: {dict(sorted(statuses.items()))} (0 = timeout/reset)")
    print(f"  lease statuses during the fault: {dict(sorted(lease_statuses.items()))}")
    if crowd.content_types:
        print(
            f"  5xx answers by content type (run so far): {dict(crowd.content_types)};"
            f" with Retry-After: {crowd.retry_after}"
        )
    sys.stdout.flush()


def wait_snapshot(port: int, token: str, slug: str, sid: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn.request(
                "GET",
                f"/api/v1/projects/{slug}/snapshots/{sid}/",
                headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            )
            response = conn.getresponse()
            body = json.loads(response.read() or b"{}")
            if body.get("status") in ("ready", "failed"):
                return body
        conn.close()
        time.sleep(0.5)
    return body


def snapshot_post(port: int, token: str, slug: str, query: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        f"/api/v1/projects/{slug}/snapshots/",
        body=json.dumps(query),
        headers={
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    if response.status != 202:
        raise RuntimeError(f"snapshot refused: {response.status} {payload}")
    return payload["id"]


def server_errors(log: Path) -> None:
    """The exception line of each traceback gunicorn logged (a 500 is a bug to name)."""
    lines = log.read_text(errors="replace").splitlines()
    ends = [
        lines[i - 1]
        for i, line in enumerate(lines)
        if i
        and not line.startswith((" ", "Trace"))
        and lines[i - 1].strip()
        and "Error" in lines[i - 1].split(":")[0]
    ]
    counted = collections.Counter(e.strip()[:160] for e in ends)
    print(f"  server exceptions logged: {dict(counted) or 'none'}")


def wait_until_building(sid: int, limit: float) -> tuple[bool, float]:
    """Poll until a worker holds the snapshot's row lock (its build has begun), at most
    `limit` seconds; (seen building, seconds since the POST)."""
    from django.db import connection, transaction

    started = time.monotonic()
    while time.monotonic() - started < limit:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM annotation_snapshot WHERE id = %s AND status = 'pending' "
                "FOR UPDATE SKIP LOCKED",
                [sid],
            )
            free = cursor.fetchone() is not None
        if not free:
            return True, time.monotonic() - started
        time.sleep(0.01)
    return False, time.monotonic() - started


def partial_files(media: Path) -> list[str]:
    return [str(p.relative_to(media)) for p in media.rglob("*") if ".partial-" in p.name]


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=24)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--hang", type=float, default=20.0, help="seconds Redis stays stopped")
    parser.add_argument("--warm", type=float, default=8.0, help="seconds of votes before a fault")
    parser.add_argument(
        "--kill-after", type=float, default=20.0, help="longest wait for the build to begin"
    )
    parser.add_argument("--logs", type=Path, help="copy the servers' logs here before cleanup")
    parser.add_argument(
        "--claim-timeout", type=int, default=15, help="SNAPSHOT_CLAIM_TIMEOUT_SECONDS (worker-kill)"
    )
    parser.add_argument("--beat", type=int, default=5, help="SNAPSHOT_BEAT_SECONDS (worker-kill)")
    parser.add_argument("--kills", type=int, default=3, help="worker kills mid-snapshot")
    parser.add_argument(
        "--snapshot-votes", type=int, default=20, help="votes imported per item for snapshots"
    )
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)}; default all")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}: choose from {', '.join(SCENARIOS)}")
    # SIGINT too: a shell starts a background job with SIGINT ignored, and Python keeps that.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    try:
        run(args)
    finally:
        cleanup()


def _keep_logs(base: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("gunicorn.log", "worker.log", "redis.log", "pg/server.log"):
        if (base / name).exists():
            shutil.copy(base / name, target / name.replace("/", "-"))


SCENARIOS = ("hung-redis", "pg-restart", "worker-kill", "full-disk")


class Stack:
    """PostgreSQL, Redis, gunicorn and one Celery worker, started for this run."""

    def __init__(self, args, base: Path) -> None:
        self.base = base
        self.pg = Postgres(base)
        self.redis_port = free_port()
        self.redis = spawn(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
            base / "redis.log",
        )
        self.media = base / "media"
        self.media.mkdir()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.pg.url(),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "MEDIA_ROOT": str(self.media),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DB_CONN_MAX_AGE": "60",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        os.environ.update(self.env)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        self.project, self.owner_token, self.tokens = fixture(args.items, args.annotators)
        from django.db import connection

        connection.close()
        self.bin = ROOT / ".venv" / "bin"
        self.port = free_port()
        web_cmd = [
            str(self.bin / "gunicorn"),
            "config.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "60",
        ]
        spawn(web_cmd, self.env, base / "gunicorn.log")
        self.worker_cmd = [
            str(self.bin / "celery"),
            "-A",
            "config",
            "worker",
            "-c",
            "1",
            "--loglevel=WARNING",
            "-n",
            f"chaos-{self.port}@%h",
        ]
        self.worker = self.start_worker()
        time.sleep(4)
        print(
            f"PostgreSQL {self.pg.port} (fsync off), Redis {self.redis_port}, gunicorn"
            f" -w {args.workers} on {self.port}, 1 Celery worker; {args.annotators} annotators,"
            f" {args.items} items (k=3)"
        )

    def start_worker(self, **env: str) -> subprocess.Popen:
        return spawn(self.worker_cmd, {**self.env, **env}, self.base / "worker.log")

    def start_beat(self, **env: str) -> subprocess.Popen:
        cmd = [str(self.bin / "celery"), "-A", "config", "beat", "--loglevel=WARNING"]
        cmd += ["-s", str(self.base / "beat-schedule")]
        return spawn(cmd, {**self.env, **env}, self.base / "beat.log")

    def snapshot(self) -> int:
        return snapshot_post(self.port, self.owner_token, self.project.slug, SNAPSHOT_QUERY)

    def wait(self, sid: int, timeout: float) -> dict:
        return wait_snapshot(self.port, self.owner_token, self.project.slug, sid, timeout)


def scenario_hung_redis(stack: Stack, crowd: Annotators, args) -> None:
    time.sleep(args.warm)
    start = time.monotonic()
    os.kill(stack.redis.pid, signal.SIGSTOP)
    time.sleep(args.hang)
    os.kill(stack.redis.pid, signal.SIGCONT)
    end = time.monotonic()
    time.sleep(3)
    report(
        f"hung-redis: Redis hung (SIGSTOP {args.hang:.0f} s)", crowd, stack.project, (start, end)
    )
    baseline = [s for t, s, _ in crowd.votes if t < start]
    if baseline:
        print(
            f"  before the fault: p50 {percentile(baseline, 50) * 1000:.0f} ms,"
            f" p95 {percentile(baseline, 95) * 1000:.0f} ms"
        )


def scenario_pg_restart(stack: Stack, crowd: Annotators, args) -> None:
    time.sleep(args.warm)
    start = time.monotonic()
    stack.pg.ctl("restart", "-m", "fast")
    end = time.monotonic()
    time.sleep(5)
    name = f"pg-restart: PostgreSQL restart -m fast ({end - start:.1f} s)"
    report(name, crowd, stack.project, (start, end))


def judgments_for_snapshot(project, items: int, per_item: int) -> None:
    """`per_item` imported votes on every item (once), so a snapshot takes long enough to
    be killed mid-build, also when no annotators voted before (the scenario run alone)."""
    from annotation.models import Judgment
    from annotation.services.judgment_import import judgments_import

    if Judgment.objects.filter(project=project, annotator__external_id="imported-0").exists():
        return
    rows = [
        {"annotator": f"imported-{n}", "item": f"q{i}", "a": "a", "b": "b", "choice": "ab"[n % 2]}
        for i in range(items)
        for n in range(per_item)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def snapshot_files(media: Path, sid: int) -> list[str]:
    """Files under media that belong to snapshot `sid` (its name ends -<sid>.<type>)."""
    return sorted(
        str(p.relative_to(media))
        for p in media.rglob("*")
        if p.is_file() and p.name.rsplit(".", 1)[0].endswith(f"-{sid}")
    )


def scenario_worker_kill(stack: Stack, args) -> None:
    """The worker SIGKILLed while it builds a snapshot (--kills times), with beat running as
    deployed, its periods shortened by --claim-timeout and --beat. A live build that outlives
    the window is not doubled: tests/api/test_snapshots.py shows that on PostgreSQL."""
    from django.db import connection

    from annotation.models import Snapshot

    judgments_for_snapshot(stack.project, args.items, args.snapshot_votes)
    connection.close()
    periods = {
        "SNAPSHOT_CLAIM_TIMEOUT_SECONDS": str(args.claim_timeout),
        "SNAPSHOT_BEAT_SECONDS": str(args.beat),
    }
    stop(stack.worker)
    stack.worker = stack.start_worker(**periods)
    beat = stack.start_beat(**periods)
    time.sleep(4)
    print(
        f"\n== worker-kill: Celery worker SIGKILLed mid-snapshot, beat running"
        f" (SNAPSHOT_CLAIM_TIMEOUT_SECONDS={args.claim_timeout},"
        f" SNAPSHOT_BEAT_SECONDS={args.beat}; defaults 120 and 60)"
    )
    for run in range(1, args.kills + 1):
        sid = stack.snapshot()
        building, after = wait_until_building(sid, args.kill_after)
        stop(stack.worker, signal.SIGKILL)
        killed = time.monotonic()
        connection.close()
        row = Snapshot.objects.get(pk=sid)
        stack.worker = stack.start_worker(**periods)
        body = stack.wait(sid, timeout=args.claim_timeout + 4 * args.beat + 60)
        took = time.monotonic() - killed
        print(
            f"  kill {run}: {after:.2f} s after the POST"
            f" ({'while the build held the row lock' if building else 'build not seen starting'}),"
            f" status then {row.status!r}; {body.get('status')!r} {took:.1f} s after the kill,"
            f" rows {body.get('row_count')}, files {snapshot_files(stack.media, sid)},"
            f" partial files {partial_files(stack.media)}"
        )
    sid = stack.snapshot()
    started = time.monotonic()
    body = stack.wait(sid, timeout=120)
    print(
        f"  for scale, a build not killed: {body.get('status')!r}"
        f" {time.monotonic() - started:.1f} s after the POST, rows {body.get('row_count')}"
    )
    stop(beat)


def scenario_full_disk(stack: Stack, args) -> None:
    """A worker whose MEDIA_ROOT is a 64 KiB tmpfs (or, when it cannot be mounted, a path
    under a regular file, so every write raises)."""
    from django.db import connection

    judgments_for_snapshot(stack.project, args.items, args.snapshot_votes)
    connection.close()
    stop(stack.worker)
    tiny = stack.base / "tiny"
    tiny.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tiny)], capture_output=True
        ).returncode
        == 0
    )
    if mounted:
        _CLEANUPS.insert(1, lambda: subprocess.run(["umount", str(tiny)], capture_output=True))
        kind = "tmpfs of 64 KiB"
    else:
        (stack.base / "notadir").write_text("")
        tiny = stack.base / "notadir" / "media"
        kind = "no tmpfs (mount refused): MEDIA_ROOT under a regular file, every write raises"
    stack.worker = stack.start_worker(MEDIA_ROOT=str(tiny))
    time.sleep(3)
    started = time.monotonic()
    sid = stack.snapshot()
    body = stack.wait(sid, timeout=90)
    print(f"\n== full-disk: snapshot on a full disk ({kind})")
    print(
        f"  status {body.get('status')!r} {time.monotonic() - started:.1f} s after the POST,"
        f" error {str(body.get('error'))[:120]!r}"
    )
    if mounted:
        print(f"  files left on the tmpfs: {[p.name for p in tiny.rglob('*') if p.is_file()]}")
        subprocess.run(["umount", str(tiny)], capture_output=True)
    stop(stack.worker)
    stack.worker = stack.start_worker()


def run(args) -> None:
    base = Path(tempfile.mkdtemp(prefix="prefpanel-faults-"))
    _CLEANUPS.append(lambda: shutil.rmtree(base, ignore_errors=True))
    if args.logs:
        _CLEANUPS.append(lambda: _keep_logs(base, args.logs))
    print(f"faults: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    chosen = args.scenarios or list(SCENARIOS)
    stack = Stack(args, base)
    voting = [name for name in ("hung-redis", "pg-restart") if name in chosen]
    if voting:
        crowd = Annotators(stack.port, stack.project.slug, stack.tokens)
        crowd.start()
        try:
            if "hung-redis" in chosen:
                scenario_hung_redis(stack, crowd, args)
            if "pg-restart" in chosen:
                scenario_pg_restart(stack, crowd, args)
        finally:
            crowd.stop()
        print(f"  after the annotators stopped: {stored_check(stack.project, crowd.acked)}")
        server_errors(base / "gunicorn.log")
    if "worker-kill" in chosen:
        scenario_worker_kill(stack, args)
    if "full-disk" in chosen:
        scenario_full_disk(stack, args)


if __name__ == "__main__":
    main()
