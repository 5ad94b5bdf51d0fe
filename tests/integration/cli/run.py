"""Run the real ``abonent`` command in a child process, as an operator or a script would."""

from __future__ import annotations

import os
import subprocess
import sys

TIMEOUT_SECONDS = 120


def abonent_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ABONENT_DATABASE_URL": database_url,
            "ABONENT_MODE": "test",
            "ABONENT_LOG_JSON": "false",
        }
    )
    return env


def run_abonent(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    """``abonent ARGS`` against ``database_url``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "abonent.cli", *args],
        env=abonent_env(database_url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
