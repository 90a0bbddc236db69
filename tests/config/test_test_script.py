"""`scripts/test --postgres` (README, The real stack): without DATABASE_URL it runs the tests
on a throwaway PostgreSQL and Redis of its own, and leaves nothing behind, also on Ctrl-C."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.processes import ROOT

#: One PostgreSQL-only and one Redis-only test: with CI=true a skip would be a failure.
SELECTION = [
    "tests/annotation/selectors/test_judgment_table.py::test_packed_codes_keep_large_strengths_and_many_criteria",
    "tests/config/test_queues.py::test_a_snapshots_worker_leaves_statistics_to_a_worker_that_takes_every_queue",
]
THROWAWAY = re.compile(r"throwaway PostgreSQL on port (\d+) and Redis on port (\d+) in (\S+)")


@pytest.fixture(autouse=True)
def _servers_installed() -> None:
    if glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("redis-server"):
        return
    message = "needs PostgreSQL's server programs and redis-server"
    if IN_CI:
        pytest.fail(f"CI must run this test: {message}")
    pytest.skip(message)


def _environment() -> dict[str, str]:
    """This process's environment without the stack it was given (nor coverage's options)."""
    given = ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL", "TEST_DATABASE_NAME")
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in given and key != "PYTEST_ADDOPTS" and not key.startswith("COV_CORE")
    }
    return {**environment, "CI": "true"}


def _script(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["bash", "scripts/test", "--postgres", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job is
    )


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _left_behind(match: re.Match) -> list[str]:
    postgres, redis, folder = int(match[1]), int(match[2]), Path(match[3])
    return [
        name
        for name, there in (
            (f"PostgreSQL on {postgres}", _listening(postgres)),
            (f"Redis on {redis}", _listening(redis)),
            (str(folder), folder.exists()),
        )
        if there
    ]


def test_the_script_runs_the_postgresql_and_redis_tests_on_servers_it_starts_and_removes():
    script = _script(*SELECTION)
    output, _ = script.communicate(timeout=600)

    assert script.returncode == 0, output
    assert "2 passed" in output and "skipped" not in output, output
    started = THROWAWAY.search(output)
    assert started, output
    assert _left_behind(started) == []


def test_ctrl_c_stops_and_removes_the_servers():
    script = _script(*SELECTION)
    lines = []
    for line in script.stdout:
        lines.append(line)
        if started := THROWAWAY.search(line):
            break
    assert started, "".join(lines)
    assert _listening(int(started[1]))

    os.killpg(script.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's job
    output, _ = script.communicate(timeout=120)

    assert script.returncode != 0, output
    assert _left_behind(started) == []
