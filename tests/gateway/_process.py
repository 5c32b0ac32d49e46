"""A gateway in a process of its own (``claudegate serve``), for tests of several replicas."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

__all__ = ["gateway_process", "wait_for_banner"]


def wait_for_banner(proc: subprocess.Popen[bytes]) -> str:
    """The base URL ``claudegate serve`` announces once it listens (it prints nothing before)."""
    assert proc.stdout is not None
    for raw in proc.stdout:  # ends if the process exits
        line = raw.decode()
        if "claudegate gateway on " in line:
            return line.split(" on ", 1)[1].strip()
    raise AssertionError(f"the gateway process did not start: exit status {proc.poll()}")


@contextmanager
def gateway_process(config: dict[str, Any], folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``claudegate serve`` on a free port with ``config``; yields its base URL once it listens."""
    path = folder / "replica.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    errors = (folder / "replica.stderr").open("wb")  # a file, not a pipe: the access log never blocks it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "claudegate.cli",
            "serve",
            "--config",
            str(path),
            "--port",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=errors,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=folder,
    )
    try:
        yield wait_for_banner(proc)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
        errors.close()
