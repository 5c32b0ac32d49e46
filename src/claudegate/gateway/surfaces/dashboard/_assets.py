"""The dashboard's static files: its own script and style sheet, and the vendored htmx and uPlot
(``static/vendor/``, copied from node_modules by ``make vendor`` and shipped in the wheel).

Files are read once, on first use. Their URLs carry a digest of their content (``?v=…``), so they
are served with a year-long ``immutable`` cache and a new release is fetched at once. When the
vendored files are missing (a source checkout where ``make vendor`` has not run), that is logged
once and every page says how to copy them; the gateway itself carries on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATIC", "VENDOR_FILES", "Asset", "Assets"]

log = logging.getLogger("claudegate.gateway")

STATIC = Path(__file__).parent / "static"
VENDOR_FILES = ("vendor/htmx.min.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css")
_OWN_FILES = ("dashboard.js", "dashboard.css")
_LICENSES = ("vendor/htmx.LICENSE", "vendor/uPlot.LICENSE", "vendor/VERSIONS")
_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: tuple[bytes, bytes]
    version: str


class Assets:
    """The static files under ``root`` that the dashboard serves, by their path below it."""

    def __init__(self, root: Path = STATIC) -> None:
        self.root = root
        self._files: dict[str, Asset] | None = None
        self.missing: str | None = None
        """What to run when the vendored files are missing (None: they are all there)."""

    def _load(self) -> dict[str, Asset]:
        if self._files is not None:
            return self._files
        files: dict[str, Asset] = {}
        absent = []
        for name in (*_OWN_FILES, *VENDOR_FILES, *_LICENSES):
            path = self.root / name
            try:
                body = path.read_bytes()
            except OSError:
                absent.append(name)
                continue
            kind = (b"content-type", _TYPES.get(path.suffix, b"text/plain; charset=utf-8"))
            files[name] = Asset(body, kind, hashlib.sha256(body).hexdigest()[:12])
        vendor = [name for name in absent if name in VENDOR_FILES]
        if vendor:
            self.missing = (
                f"the dashboard's front-end files are missing ({', '.join(vendor)} in {self.root}): "
                "run `make vendor` in the source checkout (npm ci, then scripts/vendor-dashboard) "
                "and reload; plots and live panels need them"
            )
            log.warning("dashboard: %s", self.missing)
        self._files = files
        return files

    def get(self, name: str) -> Asset | None:
        """The file at ``name`` (e.g. ``vendor/htmx.min.js``), or None."""
        return self._load().get(name)

    def url(self, name: str) -> str:
        """The file's URL, its content's digest in the query (so it can be cached for good)."""
        found = self.get(name)
        version = f"?v={found.version}" if found is not None else ""
        return f"/dashboard/static/{name}{version}"

    def check(self) -> str | None:
        """Load the files (once); the message to show when the vendored ones are missing."""
        self._load()
        return self.missing
