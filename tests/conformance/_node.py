"""Where the Node clients live, and a clear failure (never a skip) when they are not installed.

They are dev dependencies pinned in ``package.json`` / ``package-lock.json`` at the repo root and
installed by the project's set-up step with ``INSTALL_COMMAND``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

__all__ = [
    "INSTALL_COMMAND",
    "NODE_MODULES",
    "REPO_ROOT",
    "claude_executable",
    "node_executable",
    "node_package",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
INSTALL_COMMAND = "npm ci --no-audit --no-fund"
# The npm package's bin is a small placeholder until its install script puts the native binary
# there; anything this small is the placeholder.
_PLACEHOLDER_BYTES = 1 << 20


def node_package(name: str) -> Path:
    """The installed package's folder; fails the test, naming the install command, when it is missing."""
    folder = NODE_MODULES / name
    if not (folder / "package.json").is_file():
        pytest.fail(
            f"the Node package {name} is not installed: run `{INSTALL_COMMAND}` in {REPO_ROOT}",
            pytrace=False,
        )
    return folder


def claude_executable() -> Path:
    """The ``claude`` command of the pinned ``@anthropic-ai/claude-code`` (its native binary)."""
    binary = node_package("@anthropic-ai/claude-code") / "bin" / "claude.exe"
    if not binary.is_file() or binary.stat().st_size < _PLACEHOLDER_BYTES:
        pytest.fail(
            "@anthropic-ai/claude-code is installed without its native binary (its install script did "
            f"not run): run `{INSTALL_COMMAND}` in {REPO_ROOT} with install scripts allowed",
            pytrace=False,
        )
    return binary


def node_executable() -> str:
    """The ``node`` on PATH; fails the test when there is none."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (20 or later) is not on PATH; it runs the Node client scripts", pytrace=False)
    return node
