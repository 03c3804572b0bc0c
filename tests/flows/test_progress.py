"""Progress bars: drawn on a terminal (a real pseudo-terminal around the real CLI), with
totals, rate, time left and the rate-limit wait; nothing at all without a terminal."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from cli import cli
from connector.ratelimit import Limiter
from sandbox import Sandbox

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, what the terminal
    showed, escape codes removed)."""
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", *args],
                             stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL,
                             env={**os.environ, "COLUMNS": "150", "TERM": "xterm", **env},
                             cwd=Path(__file__).parents[2])
    os.close(follower)
    shown, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        elif child.poll() is not None:
            break
    os.close(leader)
    return child.wait(timeout=10), ANSI.sub("", shown.decode("utf-8", "replace"))


def test_pull_and_score_draw_bars_with_totals_rate_eta_and_the_rate_limit_wait(tmp_path):
    db = str(tmp_path / "l.db")
    with Sandbox(contacts=250, seed=3, rate_limit=2) as sb:
        env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
        code, shown = on_a_terminal(["--db", db, "pull", "--stream", "contacts"], env)
    assert code == 0, shown
    done = re.search(r"contacts +━+ +(\d+)/(\d+) +100% +\d+/s +\d:\d\d:\d\d", shown)
    assert done and done[1] == done[2] and 200 < int(done[1]) <= 250, shown[-500:]
    assert re.search(r"contacts +━+╸?━* +100/\d+ +\d+% .* waiting on the rate limit", shown)
    # 2 requests per 10 s: the third waits, and the bar says so.
    code, shown = on_a_terminal(["--db", db, "score", "--as-of", "2026-11-22"], {})
    assert code == 0, shown
    assert re.search(rf"score +━+ +{done[1]}/{done[1]} +100%", shown), shown[-500:]
    code, shown = on_a_terminal(["--db", db, "backtest", "--as-of", "2026-06-01"], {})
    assert code == 0, shown
    assert re.search(rf"backtest +━+ +{done[1]}/{done[1]} +100%", shown), shown[-500:]
    with Sandbox(contacts=250, seed=3) as sb:  # the same portal, without the rate limit
        env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
        assert CliRunner().invoke(cli, ["--db", db, "setup"], env=env).exit_code == 0
        code, shown = on_a_terminal(["--db", db, "push"], env)
    assert code == 0, shown
    assert re.search(r"push +━+ +(\d+)/\1 +100%", shown), shown[-500:]


def test_no_bars_without_a_terminal_or_with_quiet_or_json(tmp_path):
    db = str(tmp_path / "l.db")
    with Sandbox(contacts=40, seed=3) as sb:
        env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
        piped = CliRunner().invoke(cli, ["--db", db, "pull", "--stream", "contacts"], env=env)
        assert piped.exit_code == 0 and "━" not in piped.output
        for quiet in (["--quiet"], ["--json"]):
            code, shown = on_a_terminal(["--db", db, "score", "--as-of", "2026-11-22", *quiet],
                                        env)
            assert code == 0 and shown == "", (quiet, shown)


def test_the_budget_says_when_a_request_waits_for_a_spent_window():
    clock = [0.0]
    seen = []
    limiter = Limiter(1, 10.0, clock=lambda: clock[0],
                      sleep=lambda s: (seen.append(limiter.holding()),
                                       clock.__setitem__(0, clock[0] + s)))
    limiter.acquire()
    assert not limiter.holding()
    limiter.acquire()  # the window is spent: it sleeps, and says so while it does
    assert seen and all(seen) and not limiter.holding()
