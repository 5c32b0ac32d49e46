"""``claudegate index`` and ``claudegate search`` on an embedded store named by a config file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from claudegate.cli import app

runner = CliRunner()


def test_index_a_folder_then_search_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "budgets.md").write_text("# Budgets\nA key's budget caps its spending per day and per month.\n")
    (docs / "sub" / "sockets.txt").write_text("The WebSocket API multiplexes streams on one connection.\n")
    (docs / "image.png").write_bytes(b"\x89PNG")
    config = tmp_path / "gateway.yaml"
    routes = "models:\n  - name: '*'\n    deployments: [{provider: simulator}]\n"
    config.write_text(routes + f"retrieval:\n  path: {tmp_path / 'r.db'}\n")
    indexed = runner.invoke(app, ["index", str(docs), "--collection", "kb", "--config", str(config)])
    assert indexed.exit_code == 0, indexed.output
    assert "kb: 2 files, 2 chunks" in indexed.output and "vectors/s" in indexed.output
    again = runner.invoke(app, ["index", str(docs), "--collection", "kb", "--config", str(config)])
    assert again.exit_code == 0 and "kb: 2 files, 2 chunks" in again.output
    found = runner.invoke(app, ["search", "kb", "monthly spending cap", "-k", "1", "--config", str(config)])
    assert found.exit_code == 0, found.output
    assert "budgets.md#0" in found.output and "sockets" not in found.output
    missing = runner.invoke(app, ["search", "nope", "x", "--config", str(config)])
    assert missing.exit_code == 1 and "collection 'nope' does not exist" in missing.output
