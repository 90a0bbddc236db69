"""Run the project's Python in a fresh process, as an operator or a process manager would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python ARGS` in the repository with DEBUG on and the given environment overrides;
    the caller reads its exit code and output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def python_process(*args: str, log: Path, **env: str) -> Iterator[subprocess.Popen]:
    """`python ARGS` running in the background for the block, as run_python would run it,
    its output in `log`; stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, "DEBUG": "true", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
