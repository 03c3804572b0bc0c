"""`leadsync report`: the numbers it draws, and one self-contained HTML file."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_world import build

from analysis.report import gather, write_report
from cache.database import Cache, open_cache
from cli import cli

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)
CHARTS = ("funnel", "scores", "lift", "sources", "trend", "rules")


@pytest.fixture
def cache(tmp_path: Path):
    built = build(tmp_path / "l.db")
    yield built
    built.close()


def test_the_report_counts_live_contacts_by_stage_reached_and_by_source(cache: Cache) -> None:
    data = gather(cache, NOW)
    assert data.contacts == 5
    assert data.funnel == [("Subscriber", 5), ("Lead", 4), ("MQL", 3), ("SQL", 2),
                           ("Opportunity", 2), ("Customer", 1)]
    assert data.sources == [("Organic search", 2, 1), ("(unknown)", 1, 0), ("Paid social", 1, 0),
                            ("Referrals", 1, 1)]


def test_the_report_sums_scores_grades_and_rules_of_live_contacts(cache: Cache) -> None:
    data = gather(cache, NOW)
    assert data.scored == 4 and data.models == ["report 1"]
    assert data.grades == {"A3": 2, "C1": 1, "C3": 1}
    assert (data.scores.mean, data.scores.max) == (30.0, 60)
    assert data.rules == [("Meetings (engagement)", 80, 2), ("VP (fit)", 40, 2),
                          ("Free email (fit)", -5, 1), ("total floored at 0", 5, 1)]


def test_the_trend_replays_history_day_by_day(cache: Cache) -> None:
    days, means, qualified = gather(cache, NOW).trend
    assert days == ["2026-11-01", "2026-11-02"]
    assert means == [25.0, 40.0]   # (40 + 10) / 2, then (40 + 60 + 20) / 3
    assert qualified == [1, 2]     # the customer; then also contact 2 at MQL


def test_the_report_is_one_self_contained_html_file(cache: Cache, tmp_path: Path) -> None:
    path = write_report(cache, tmp_path / "report.html", generated_at=NOW)
    page = path.read_text(encoding="utf-8")
    assert path == (tmp_path / "report.html").resolve()
    for name in CHARTS:
        figure = re.search(rf'<figure id="chart-{name}">(.*?)</figure>', page, re.S)
        assert figure and "<svg" in figure.group(1), name
    assert "Generated 2026-11-22 09:30 UTC" in page
    assert "<style>" in page
    for outside in ("http:", "https:", "<script", "<link", "src=", "@import", "url(http"):
        assert outside not in page, outside
    # Chart ids are namespaced per chart, so SVGs cannot steal each other's clip paths.
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_the_report_says_what_is_missing_on_an_empty_cache(tmp_path: Path) -> None:
    empty = open_cache(tmp_path / "empty.db")
    page = write_report(empty, tmp_path / "r.html").read_text()
    empty.close()
    assert "No contacts in the cache yet: run `leadsync pull`." in page
    assert "No backtest yet: run `leadsync backtest` to add the lift chart." in page
    assert "<figure" not in page


def test_report_command_writes_the_file_and_prints_its_path(cache: Cache, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "report", "--out",
                                      str(tmp_path / "out.html")])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote {(tmp_path / 'out.html').resolve()}\n"


def test_without_matplotlib_report_fails_in_one_line_naming_the_extra(cache: Cache,
                                                                     tmp_path: Path) -> None:
    # A real interpreter in which matplotlib cannot be imported.
    code = "import sys; sys.modules['matplotlib'] = None; import cli; cli.main()"
    done = subprocess.run([sys.executable, "-c", code, "--db", str(tmp_path / "l.db"), "report",
                           "--out", str(tmp_path / "r.html")], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("Error: the report needs matplotlib, an optional extra: "
                           "pip install 'leadsync[report]'\n")
    assert not (tmp_path / "r.html").exists()
