"""A loopback proxy that answers nothing and remembers who called: it catches traffic meant off the box.

Point a client's ``HTTPS_PROXY``/``HTTP_PROXY`` at ``EgressTrap.proxy_url`` (and ``NO_PROXY`` at
loopback): any request the client tries to send anywhere but loopback arrives here as a
``CONNECT host:443`` (or an absolute-form request line), is recorded, and the connection is closed.
Nothing is forwarded, so nothing leaves the machine even when a client ignores its switches.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

__all__ = ["EgressTrap"]


class EgressTrap:
    """Listen on ``127.0.0.1``; record the first line of every connection; close it without answering."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        # accept() polls so that stopping never depends on close() waking a blocked thread.
        self._listener.settimeout(0.05)
        self._stopping = threading.Event()
        self._attempts: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="egress-trap", daemon=True)

    @property
    def proxy_url(self) -> str:
        """The proxy address to hand the client."""
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def attempts(self) -> list[str]:
        """The first line of each connection so far (e.g. ``CONNECT api.example.com:443 HTTP/1.1``)."""
        with self._lock:
            return list(self._attempts)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2.0)
                try:
                    head = connection.recv(4096)
                except OSError as exc:
                    head = f"<no request line: {exc}>".encode()
            with self._lock:
                self._attempts.append(head.split(b"\r\n", 1)[0].decode("latin-1"))

    def __enter__(self) -> EgressTrap:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()
