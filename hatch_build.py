"""A wheel is built only with the dashboard's vendored front-end files in place (htmx, uPlot):
``make vendor`` copies them from node_modules, and the gateway serves them from its package.
Editable installs skip the check (the dashboard then says how to copy them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VENDOR = Path("src/claudegate/gateway/surfaces/dashboard/static/vendor")


class DashboardVendorCheck(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        if not (Path(self.root) / VENDOR / "VERSIONS").is_file():
            raise RuntimeError(
                f"{VENDOR} is empty: run `make vendor` (npm ci, then scripts/vendor-dashboard) before "
                "building the wheel, so that the dashboard ships its htmx and uPlot files"
            )
