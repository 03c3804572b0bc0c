"""A newcomer's first hour, scripted: the README's usage block and the mistakes a new user
makes, typed into the installed `leadsync` (a subprocess, as from a shell) against sandboxes on
loopback ports. Every failure must be one line (never a traceback), with the README's exit
code, and quick: a wrong address within seconds, Ctrl-C within 3 s."""
from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from cache.database import open_cache
from cache.lock import holder
from flows.sync import write_back_extra
from foundation.settings import STREAMS, Settings
from ground_truth import cache_view, portal_view
from mappings.streams import select
from sandbox import Sandbox
from test_docs import usage_block

# The installed console script; LEADSYNC_UNDER_TEST runs this script against another build.
LEADSYNC = os.environ.get("LEADSYNC_UNDER_TEST") or str(Path(sys.executable).parent / "leadsync")
NETWORK_BOUND_S = 10.0
STOP_BOUND_S = 3.0


def leadsync(*args: str, env: dict | None = None, cwd: Path | None = None,
             timeout: float = 60) -> tuple[int, str, str, float]:
    """Run the installed command; returns (exit code, stdout, stderr, seconds)."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("HUBSPOT_ACCESS_TOKEN", "LEADSYNC_BASE_URL", "LEADSYNC_DB")}
    full_env.update(env or {})
    started = time.monotonic()
    done = subprocess.run([LEADSYNC, *args], env=full_env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def one_line_error(code: int, err: str, expected_code: int, *needles: str) -> None:
    assert "Traceback" not in err, err
    assert code == expected_code, (code, err)
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(contacts=150, seed=21) as sandbox:
        yield sandbox


@pytest.fixture
def env(sb):
    return {"HUBSPOT_ACCESS_TOKEN": sb.token, "LEADSYNC_BASE_URL": sb.base_url}


# --- the README, as typed ----------------------------------------------------------------------

def test_the_readme_usage_block_through_the_installed_command(tmp_path):
    """`leadsync sandbox &` really runs, and its printed exports are what the README exports."""
    sandbox = subprocess.Popen([LEADSYNC, "sandbox", "--port", "0", "--contacts", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = _lines(sandbox, 4)
        exports = dict(re.match(r"export (\w+)=(\S+)$", line.strip()).groups()
                       for line in banner if line.startswith("export "))
        assert set(exports) == {"LEADSYNC_BASE_URL", "HUBSPOT_ACCESS_TOKEN"}
        env: dict[str, str] = {}
        email = None
        for line in usage_block():
            if line.startswith("leadsync sandbox"):
                assert line.endswith("&")  # started above, on a free port instead of 8080
                continue
            if line.startswith("export "):
                name = re.match(r"export (\w+)=", line).group(1)
                env[name] = exports[name]  # the README's names are the ones the sandbox prints
                continue
            if "jane@example.com" in line:
                email = email or _first_email(tmp_path / "leadsync.db")
                line = line.replace("jane@example.com", email)
            args = shlex.split(line)
            assert args[0] == "leadsync"
            code, out, err, _ = leadsync(*args[1:], env=env, cwd=tmp_path)
            assert code == 0 and "Traceback" not in err, f"`{line}` failed ({code}): {err}"
        assert "retrying" not in err
    finally:
        sandbox.send_signal(signal.SIGINT)
        sandbox.communicate(timeout=10)
    assert sandbox.returncode in (0, 130)


def _lines(process: subprocess.Popen, count: int, timeout: float = 15) -> list[str]:
    """The first `count` lines a process prints, or as many as came within `timeout`."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout.readline()
                                                          for _ in range(count)), daemon=True)
    reader.start()
    reader.join(timeout)
    return list(lines)


def _first_email(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT email FROM contacts WHERE archived = 0 AND email IS NOT NULL "
                            "ORDER BY CAST(id AS INTEGER) LIMIT 1").fetchone()[0]


# --- a wrong address: say so within seconds ----------------------------------------------------

class _Html(http.server.BaseHTTPRequestHandler):
    """A web server that is not HubSpot's API: an HTML page for everything."""

    status = 200

    def _page(self) -> None:
        body = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, *args) -> None:
        pass


class _Html404(_Html):
    status = 404


@pytest.fixture(params=[_Html, _Html404], ids=["200 html", "404 html"])
def web_page(request):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: nothing listens there


@pytest.mark.parametrize("url, needle", [
    ("closed", "(connection refused); check --base-url"),
    ("http://no-such-host.invalid", "(no such host); check --base-url"),
    ("htp://127.0.0.1:8080", "is not an http(s) address"),
])
@pytest.mark.parametrize("command", ["pull", "setup"])
def test_nothing_answers_at_the_base_url_is_said_at_once(tmp_path, url, needle, command):
    url = f"http://127.0.0.1:{_closed_port()}" if url == "closed" else url
    code, out, err, seconds = leadsync("--db", str(tmp_path / "c.db"), "--base-url", url, command,
                                       env={"HUBSPOT_ACCESS_TOKEN": "pat-x"})
    one_line_error(code, err, 2, needle)
    assert seconds < NETWORK_BOUND_S
    if url.startswith("http://"):
        assert f"nothing answers at {url} " in err


def test_a_web_page_is_not_hubspots_api(tmp_path, web_page):
    code, out, err, seconds = leadsync("--db", str(tmp_path / "c.db"), "--base-url", web_page,
                                       "pull", env={"HUBSPOT_ACCESS_TOKEN": "pat-x"})
    one_line_error(code, err, 2, f"the answer from {web_page} was not HubSpot's API", "text/html",
                   "check --base-url")
    assert seconds < NETWORK_BOUND_S


def test_retries_show_one_line_each_on_stderr(tmp_path, sb, env):
    sb.faults.add(status=503, times=2, path_prefix="/crm/v3/properties")
    try:
        code, out, err, _ = leadsync("--db", str(tmp_path / "c.db"), "setup", env=env)
    finally:
        sb.faults.clear()
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("retrying")]
    assert [line.split(" in ")[0] for line in lines] == ["retrying 2/8", "retrying 3/8"]
    assert "HubSpot is unavailable (503)" in lines[0]


def test_a_wrong_token_is_exit_2(tmp_path, sb):
    code, out, err, _ = leadsync("--db", str(tmp_path / "c.db"), "pull",
                                 env={"HUBSPOT_ACCESS_TOKEN": "pat-wrong", "LEADSYNC_BASE_URL": sb.base_url})
    one_line_error(code, err, 2, "HubSpot rejected the access token (401)")
    assert "pat-wrong" not in err


# --- files and folders -------------------------------------------------------------------------

@pytest.mark.parametrize("command, folder, needle", [
    ("setup", "missing", "such does not exist; create the folder"),
    ("pull", "missing", "such does not exist; create the folder"),
    ("sync", "missing", "such does not exist; create the folder"),
    ("push", "missing", "no cache at"),
    ("score", "missing", "no cache at"),
    ("pull", "unwritable", "cannot create the lock file /proc/leadsync-newcomer.db.lock"),
    ("setup", "unwritable", "cannot create the lock file"),
])
def test_a_db_in_a_missing_or_unwritable_folder_is_one_line(tmp_path, env, command, folder, needle):
    # /proc: unwritable even for root, as CI runs
    db = tmp_path / "no" / "such" / "c.db" if folder == "missing" else Path("/proc/leadsync-newcomer.db")
    code, out, err, _ = leadsync("--db", str(db), command, env=env)
    one_line_error(code, err, 2, needle)


@pytest.fixture(scope="module")
def pulled(sb, tmp_path_factory):
    """A cache after setup, pull and score, for the commands that read one."""
    db = tmp_path_factory.mktemp("pulled") / "leadsync.db"
    env = {"HUBSPOT_ACCESS_TOKEN": sb.token, "LEADSYNC_BASE_URL": sb.base_url}
    for command in ("setup", "pull", "score"):
        code, out, err, _ = leadsync("--db", str(db), command, env=env)
        assert code == 0, err
    return db


def test_report_to_an_unwritable_path_is_one_line(pulled, tmp_path):
    code, out, err, _ = leadsync("--db", str(pulled), "report", "--out", "/proc/report.html")
    one_line_error(code, err, 2, "cannot write the report to /proc/report.html", "choose another --out")
    code, out, err, _ = leadsync("--db", str(pulled), "report", "--out", str(tmp_path / "no" / "r.html"))
    one_line_error(code, err, 2, "does not exist")


def test_a_damaged_cache_is_named_kept_and_never_a_success(pulled, tmp_path):
    conn = sqlite3.connect(pulled)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damaged = tmp_path / "damaged.db"
    data = bytearray(pulled.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the first (the schema)
        data[start:start + page] = bytes([0x5A]) * min(page, len(data) - start)
    damaged.write_bytes(bytes(data))
    for args in (["report", "--out", str(tmp_path / "r.html")], ["status"], ["explain", "1"],
                 ["score"], ["push", "--dry-run"]):
        code, out, err, _ = leadsync("--db", str(damaged), *args)
        one_line_error(code, err, 1, f"the cache {damaged} is damaged",
                       "leadsync --db NEW.db pull --full")
    assert damaged.read_bytes() == bytes(data)  # kept as it was, for inspection
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args", [["explain", "jane@example.com"], ["push", "--dry-run"],
                                  ["status"], ["history"], ["report"], ["score"],
                                  ["simulate", "--model", "m.toml"], ["backtest"]])
def test_read_only_commands_on_a_missing_cache_create_nothing(tmp_path, args):
    db = tmp_path / "leadsync.db"
    code, out, err, _ = leadsync("--db", str(db), *args, cwd=tmp_path)
    one_line_error(code, err, 2, f"no cache at {db}; run `leadsync pull` first")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- config, model and dates -------------------------------------------------------------------

def test_bad_model_config_and_dates_are_one_line(pulled, tmp_path):
    model = tmp_path / "model.toml"
    model.write_text('[model]\nname = "m"\nversion = "1"\n\n[engagement]\nhalf_life_days = -30\n')
    code, out, err, _ = leadsync("model", "check", str(model))
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"Error: {model}:6: [engagement]: half_life_days: must be 0 (no decay) "
                          f"or more, got -30")
    config = tmp_path / "leadsync.toml"
    config.write_text('[pull]\nstreams = "contacts"\n')
    code, out, err, _ = leadsync("--config", str(config), "status")
    one_line_error(code, err, 2, 'pull.streams must be a list of stream names, e.g. streams = ["contacts"]')
    code, out, err, _ = leadsync("--db", str(pulled), "score", "--as-of", "3000-01-01")
    one_line_error(code, err, 2, "--as-of 3000-01-01 is in the future")


# --- some contacts failed to write: exit 3 ------------------------------------------------------

def test_push_with_failed_contacts_exits_3(sb, env, pulled):
    db = str(pulled)
    with closing(open_cache(db)) as cache:
        planned = [r[0] for r in cache.conn.execute(
            "SELECT contact_id FROM scores ORDER BY CAST(contact_id AS INTEGER) LIMIT 2")]
    sb.faults.fail_records("contacts", [int(i) for i in planned], category="VALIDATION_ERROR",
                           message="Property values were not valid")
    try:
        code, out, err, _ = leadsync("--db", db, "push", env=env)
    finally:
        sb.faults.clear_records()
    assert code == 3 and "Traceback" not in err, (code, err)
    assert "2 contacts failed:" in out


# --- stopping ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    with Sandbox(contacts=300, seed=5, latency_ms=250) as sandbox:
        yield sandbox


def _start_pull(db: Path, slow: Sandbox) -> subprocess.Popen:
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": slow.token, "LEADSYNC_BASE_URL": slow.base_url}
    process = subprocess.Popen([LEADSYNC, "--db", str(db), "pull"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and holder(str(db)) != process.pid:
        time.sleep(0.05)
    time.sleep(0.8)  # a few pages in: threads are waiting on the sandbox's 250 ms
    assert process.poll() is None, "the pull ended before it could be stopped"
    return process


def _runs(db: Path) -> list[str]:
    code, out, err, _ = leadsync("--db", str(db), "status", "--json")
    assert code == 0, err
    return [r["outcome"] for r in json.loads(out)["last_runs"]]


def test_ctrl_c_and_sigterm_stop_a_pull_at_once_and_the_rerun_resumes(slow, tmp_path):
    db = tmp_path / "leadsync.db"
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        process = _start_pull(db, slow)
        if sig == signal.SIGINT:  # the next calls stall: threads sit in HTTP reads (30 s timeout)
            slow.faults.add(delay_ms=20_000, times=30)
            time.sleep(0.6)
        sent = time.monotonic()
        process.send_signal(sig)
        try:
            out, err = process.communicate(timeout=30)
        finally:
            slow.faults.clear()
        assert time.monotonic() - sent < STOP_BOUND_S
        assert process.returncode == code and "Traceback" not in err, err
        assert err.strip().endswith("stopped; rerun to resume")
    process = _start_pull(db, slow)
    process.kill()  # SIGKILL: the run cannot record anything
    process.communicate(timeout=10)
    assert _runs(db) == ["interrupted", "interrupted", "interrupted"]
    code, out, err, _ = leadsync("--db", str(db), "pull", "--quiet",
                                 env={"HUBSPOT_ACCESS_TOKEN": slow.token,
                                      "LEADSYNC_BASE_URL": slow.base_url})
    assert code == 0, err
    assert _runs(db) == ["ok", "interrupted", "interrupted", "interrupted"]
    cache = open_cache(db)
    try:
        for stream in select(STREAMS, write_back_extra(Settings())).values():
            assert cache_view(cache, stream) == portal_view(slow, stream), stream.name
    finally:
        cache.close()
