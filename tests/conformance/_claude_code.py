"""Run the real Claude Code CLI (``claude -p``) against a base URL: offline, non-interactive, bounded.

Each run gets a throwaway home (config, sessions, credentials) and working folder, an environment
built from scratch (nothing from the caller's ``ANTHROPIC_*`` or ``CLAUDE_*`` variables leaks in),
and ``OFFLINE_ENV``, which switches off everything Claude Code would otherwise send elsewhere.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.conformance._node import claude_executable

__all__ = ["API_KEY", "OFFLINE_ENV", "ClaudeRun", "run_claude"]

API_KEY = "sk-ant-conformance"

OFFLINE_ENV: Mapping[str, str] = {
    # One switch for auto-update, telemetry, error reporting, the bug command, release notes and
    # the like; without it Claude Code tries to reach its vendor's API host for telemetry.
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    # The same switches one by one, for versions that read only the older names.
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    # No side calls to the model (session titles, flavour text): only the task's own requests.
    "DISABLE_NON_ESSENTIAL_MODEL_CALLS": "1",
}
"""Environment that keeps Claude Code from any traffic but the API calls its task needs."""

TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class ClaudeRun:
    """What one ``claude -p`` run printed and returned."""

    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        """Both output streams, for an assertion message."""
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_claude(
    base_url: str,
    prompt: str,
    *options: str,
    workdir: Path,
    extra_env: Mapping[str, str] | None = None,
) -> ClaudeRun:
    """Run ``claude -p <prompt> <options>`` with ``ANTHROPIC_BASE_URL=base_url`` and wait for it to exit.

    ``workdir`` gets two fresh folders: ``home`` (HOME and CLAUDE_CONFIG_DIR live there) and
    ``project`` (the working directory Claude Code sees). Fails with ``subprocess.TimeoutExpired``
    after ``TIMEOUT_SECONDS``, so a client waiting on the network can never hang the suite.
    """
    executable = claude_executable()
    home = workdir / "home"
    project = workdir / "project"
    home.mkdir(parents=True, exist_ok=True)
    project.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        **OFFLINE_ENV,
        **(extra_env or {}),
    }
    completed = subprocess.run(
        [str(executable), "-p", prompt, *options],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return ClaudeRun(completed.returncode, completed.stdout, completed.stderr)
