"""Run the project's Python in a fresh process, as an operator or a process manager would."""

from __future__ import annotations

import os
import subprocess
import sys
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
