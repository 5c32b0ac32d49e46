"""What the schemathesis run (``test_fuzz.py``) sent and got, summed over its tests and printed at
the end of the pytest run (``pytest_terminal_summary`` in ``conftest.py``)."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

__all__ = ["TALLY", "FuzzTally"]


@dataclass
class FuzzTally:
    requests: int = 0
    """Generated requests sent to the gateway."""
    server_errors: int = 0
    """Answers with a 5xx status (each also fails its test)."""
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    """Answers by status class (``2xx``, ``4xx``…)."""
    errors: int = 0
    """Answers with a 4xx or 5xx status."""
    error_dialects: collections.Counter[str] = field(default_factory=collections.Counter)
    """Error answers whose envelope was found to be their route's dialect's, by dialect."""
    operations: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    """The (operation, generation mode) runs that completed."""
    seconds: float = 0.0
    _started: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self, run: str) -> None:
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None
        self.runs.add(run)

    def record(self, operation: str, status: int) -> None:
        """An answer, before it is checked."""
        self.requests += 1
        self.operations.add(operation)
        self.statuses[f"{status // 100}xx"] += 1
        self.errors += status >= 400
        self.server_errors += status >= 500

    def in_dialect(self, dialect: str) -> None:
        """An error answer found in its route's dialect."""
        self.error_dialects[dialect] += 1

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{kind} {count}" for kind, count in sorted(self.statuses.items()))
        dialects = ", ".join(f"{dialect} {count}" for dialect, count in sorted(self.error_dialects.items()))
        return [
            f"schemathesis: {self.requests} generated requests over {len(self.operations)} operations "
            f"({len(self.runs)} runs, {self.seconds:.1f} s)",
            f"schemathesis: server errors (5xx): {self.server_errors}; answers: {statuses}",
            f"schemathesis: error answers in their route's dialect: {sum(self.error_dialects.values())} "
            f"of {self.errors} ({dialects or 'none'})",
        ]


TALLY = FuzzTally()
