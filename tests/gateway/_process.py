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

__all__ = ["gateway_process"]


@contextmanager
def gateway_process(config: dict[str, Any], folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``claudegate serve`` on a free port with ``config``; yields its base URL once it listens."""
    path = folder / "replica.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
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
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=folder,
    )
    try:
        assert proc.stdout is not None
        base = ""
        for raw in proc.stdout:  # the banner comes once the gateway listens
            line = raw.decode()
            if "claudegate gateway on " in line:
                base = line.split(" on ", 1)[1].strip()
                break
        assert base, f"the gateway process did not start: exit status {proc.poll()}"
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
