"""`leadsync report`: the numbers it draws, and one self-contained HTML file."""
from __future__ import annotations

import json
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
from foundation.errors import ConfigError

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
    # Best conversion rate first; (name, contacts, converted, reached MQL, mean score)
    assert data.sources == [("Referrals", 1, 1, 1, None), ("Organic search", 2, 1, 1, 50.0),
                            ("Paid social", 1, 0, 1, 20.0), ("(unknown)", 1, 0, 0, 0.0)]


def test_the_report_sums_scores_grades_and_rules_of_live_contacts(cache: Cache) -> None:
    data = gather(cache, NOW)
    assert data.scored == 4 and data.models == ["report 1"]
    assert data.grades == {"A3": 2, "C1": 1, "C3": 1}
    assert (data.scores.mean, data.scores.max) == (30.0, 60)
    # The bound "total floored at 0" is not a rule: explain shows it, the chart does not.
    assert data.rules == [("Meetings (engagement)", 80, 2), ("VP (fit)", 40, 2),
                          ("Free email (fit)", -5, 1)]


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
    assert ("Portal: not recorded in the cache · contacts created 2026-01-01 to 2026-01-01 · "
            "scored as of 2026-11-02 · generated 2026-11-22 09:30 UTC from the leadsync cache"
            ) in page
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
    assert ("No backtest of this model with anyone to evaluate yet: run `leadsync backtest` to "
            "add the lift chart (or pick one: `leadsync report --backtest ID`).") in page
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


def saved_backtest(cache: Cache, model_label: str, evaluated: int) -> int:
    """A saved backtest of `model_label` with `evaluated` contacts (decile 1 held 38%)."""
    decile = {"index": 1, "contacts": max(evaluated // 10, 1), "converted": 3.0, "rate": 0.3,
              "lift": 3.8, "min_score": 50, "max_score": 90, "captured": 0.375}
    result = {"as_of": "2026-08-01T00:00:00.000Z", "horizon_days": 90,
              "window_end": "2026-10-30T00:00:00.000Z", "capacity_per_month": None,
              "population": {"contacts": evaluated, "created_later": 0, "already_converted": 0,
                             "evaluated": evaluated, "converted": 8 if evaluated else 0},
              "evaluations": [{"model": model_label, "contacts": evaluated, "converted": 8,
                               "auc": 0.71, "top_decile_lift": 3.8, "deciles": [decile] * 10,
                               "by_grade": [], "mql_rule": None, "mql": None, "capacity": None}],
              "limitations": []}
    with cache.transaction() as conn:
        return conn.execute("INSERT INTO backtests (ran_at, as_of, horizon_days, models, result) "
                            "VALUES ('2026-11-02', '2026-08-01', 90, ?, ?)",
                            (json.dumps([model_label]), json.dumps(result))).lastrowid


def test_the_report_charts_the_scored_models_latest_non_empty_backtest(cache: Cache) -> None:
    mine = saved_backtest(cache, "report 1", 80)
    saved_backtest(cache, "report 1", 0)           # empty: nobody to evaluate
    candidate = saved_backtest(cache, "candidate 2", 80)  # another model's
    data = gather(cache, NOW)
    assert data.backtest_id == mine
    assert data.backtest["population"]["evaluated"] == 80
    assert gather(cache, NOW, backtest_id=candidate).backtest_id == candidate
    with pytest.raises(ConfigError, match=rf"^no backtest #99 in the cache; the latest are "
                                          rf"#{candidate}, #{candidate - 1}, #{mine}, #1$"):
        gather(cache, NOW, backtest_id=99)


def test_the_backtest_reads_as_one_plain_sentence(cache: Cache, tmp_path: Path) -> None:
    saved_backtest(cache, "report 1", 80)
    page = write_report(cache, tmp_path / "r.html", generated_at=NOW).read_text()
    assert ("The top 10% of report 1&#x27;s scores (8 contacts) held 38% of the buyers; a random "
            "ranking would hold 10%.") in page


def test_report_backtest_option_and_a_wrong_id_in_one_line(cache: Cache, tmp_path: Path) -> None:
    candidate = saved_backtest(cache, "candidate 2", 80)
    db, out = str(tmp_path / "l.db"), str(tmp_path / "out.html")
    result = CliRunner().invoke(cli, ["--db", db, "report", "--out", out, "--backtest",
                                      str(candidate)])
    assert result.exit_code == 0, result.output
    assert f"Does the score find the buyers? (backtest #{candidate})" in Path(out).read_text()
    wrong = CliRunner().invoke(cli, ["--db", db, "report", "--out", out, "--backtest", "99"])
    assert (wrong.exit_code, wrong.output) == (2, f"Error: no backtest #99 in the cache; the "
                                                  f"latest are #{candidate}, #1\n")


def test_one_day_of_history_still_draws_a_trend_with_its_values(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "one.db")
    with cache.transaction() as conn:
        conn.execute("INSERT INTO score_history (contact_id, changed_at, as_of, model_name, "
                     "model_version, trigger, new_total, new_stage) VALUES ('1', "
                     "'2026-11-02T00:00:00.000Z', '2026-11-02T00:00:00.000Z', 'm', '1', 'score', "
                     "42.5, 'marketingqualifiedlead')")
    page = write_report(cache, tmp_path / "r.html", generated_at=NOW).read_text()
    cache.close()
    trend = re.search(r'<figure id="chart-trend">(.*?)</figure>', page, re.S).group(1)
    assert ">42.5<" in trend and ">mean score<" in trend and ">contacts at MQL or later<" in trend
    assert "one scoring day so far" in page
