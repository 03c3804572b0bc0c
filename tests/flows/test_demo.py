from click.testing import CliRunner

from cli import cli


def test_demo_runs_the_whole_loop_and_says_where_things_are(tmp_path):
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--contacts", "300", "--dir", str(workdir)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    out = result.output
    assert "properties: 7 created, 0 already there" in out
    first, second = [line for line in out.splitlines() if line.strip().startswith("pulled ")]
    assert " 0 batch calls" not in first
    assert "wrote 0 contacts in 0 batch calls" in second
    assert "Funnel (live contacts)" in out and "Top leads, and why:" in out
    assert "Backtest as of " in out and "ROC AUC starter" in out
    learned = next(line for line in out.splitlines() if line.startswith("Learned model: "))
    assert f"{workdir / 'learned_model.toml'} (" in learned and " vs the starter's 0." in learned
    assert (workdir / "learned_model.toml").read_text().startswith("# Learned by `leadsync learn`")
    assert f"Report: {workdir / 'report.html'}" in out
    assert (workdir / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert f"Cache: {workdir / 'leadsync.db'}" in out
