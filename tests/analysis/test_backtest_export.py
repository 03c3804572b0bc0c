"""`leadsync backtest --export FILE`: each contact's scores and outcome, as CSV or JSON, and
the configured conversion."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from learn_world import AS_OF, learn_cache

from cli import cli


@pytest.fixture
def db(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(learn_cache(tmp_path_factory.getbasetemp(), tmp_path / "leadsync.db"))


def run(db: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", db, *args])


def test_export_writes_every_evaluated_contact_with_its_scores_and_outcome(db: str,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = run(db, "backtest", "--as-of", AS_OF.date().isoformat(), "--random-baseline",
                 "--export", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["contact_id", "converted", "starter 2026-11-22", "random baseline"]
    assert len(rows) - 1 == summary["population"]["evaluated"]
    assert sum(int(r[1]) for r in rows[1:]) == summary["population"]["converted"]
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    assert all(float(r[2]) >= 0 and r[1] in ("0", "1") for r in rows[1:])
    as_json = tmp_path / "scores.json"
    assert run(db, "backtest", "--as-of", AS_OF.date().isoformat(), "--export",
               str(as_json)).exit_code == 0
    doc = json.loads(as_json.read_text())
    assert doc["scores"]["contact_ids"] == [r[0] for r in rows[1:]]
    assert [f"{s:g}" for s in doc["scores"]["starter 2026-11-22"]] == [r[2] for r in rows[1:]]
    assert doc["conversion"] == "entered opportunity or customer"
    assert not list(tmp_path.glob("*.partial"))


def test_export_to_an_unknown_format_fails_before_any_work(db: str, tmp_path: Path) -> None:
    result = run(db, "backtest", "--export", str(tmp_path / "scores.xlsx"))
    assert result.exit_code == 2
    wrong = tmp_path / "scores.xlsx"
    assert result.output == f"Error: --export {wrong}: name a .csv or .json file\n"


def test_backtest_counts_the_conversion_the_config_defines(db: str, tmp_path: Path) -> None:
    config = tmp_path / "leadsync.toml"
    config.write_text('[conversion]\nstages = ["salesqualifiedlead"]\n')
    result = CliRunner().invoke(cli, ["--db", db, "--config", str(config), "backtest",
                                      "--as-of", AS_OF.date().isoformat()])
    assert result.exit_code == 0, result.output
    assert " converted (entered salesqualifiedlead; " in result.output
    config.write_text('[conversion]\nstages = ["sql"]\n')
    bad = CliRunner().invoke(cli, ["--db", db, "--config", str(config), "backtest"])
    assert bad.exit_code == 2
    assert bad.output.startswith(f"Error: {config}: [conversion]: stages: 'sql' not among ")
