"""A redis-server of a test's own, on a free port, that the test may kill and restart (the shared
server on 6379 is never stopped)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

__all__ = ["PrivateRedis", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrivateRedis:
    """One port; ``start`` runs a fresh (empty) server on it, ``kill`` ends the running one."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.servers: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.folder,
            stdout=subprocess.PIPE,
        )
        self.servers.append(server)
        assert server.stdout is not None
        for line in server.stdout:  # ends when the server exits
            if b"Ready to accept connections" in line:
                return server
        server.communicate(timeout=10)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """End the running server at once, as a crash would."""
        server = self.servers[-1]
        server.kill()
        server.communicate(timeout=10)

    def close(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                server.kill()
            server.communicate(timeout=10)  # reaps it and closes its stdout pipe
