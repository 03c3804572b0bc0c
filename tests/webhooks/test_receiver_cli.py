"""`leadsync serve`: one-line errors, and a real process that receives and stops on Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import requests
from click.testing import CliRunner

from cli import cli
from webhooks.signature import sign_v3, timestamp_ms

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-test-secret-9a8b7c"


def test_serve_without_client_secret_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "serve", "--port", "0"],
                                env={"HUBSPOT_CLIENT_SECRET": ""})
    assert result.exit_code == 2
    assert result.output == ("Error: HUBSPOT_CLIENT_SECRET is not set; export your HubSpot app's "
                             "client secret so webhook signatures can be verified\n")


def test_serve_on_a_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--db", str(tmp_path / "l.db"), "serve", "--port",
                                          str(port)], env={"HUBSPOT_CLIENT_SECRET": SECRET})
    assert result.exit_code == 2
    assert result.output == (f"Error: cannot listen on 127.0.0.1:{port} (Address already in "
                             f"use); choose another --port or stop what is using it\n")
    assert SECRET not in result.output


def test_serve_receives_signed_events_and_stops_on_ctrl_c(tmp_path):
    db = tmp_path / "leadsync.db"
    env = {**os.environ, "HUBSPOT_CLIENT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    env.pop("LEADSYNC_DB", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "--db", str(db), "serve", "--port", "0"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        assert banner.startswith("Listening on http://127.0.0.1:")
        assert banner.endswith(" (POST /webhooks/hubspot, GET /healthz, GET /metrics); "
                               "Ctrl-C stops\n")
        url = banner.split()[2]
        body = json.dumps([{"eventId": 1, "subscriptionType": "contact.creation", "objectId": 5,
                            "occurredAt": 1_793_525_000_000, "portalId": 1}]).encode()
        stamp = timestamp_ms(datetime.now(timezone.utc))
        hook = url + "/webhooks/hubspot"
        with requests.Session() as session:
            with session.post(hook, data=body, timeout=5, headers={
                    "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", hook, body, stamp),
                    "X-HubSpot-Request-Timestamp": stamp}) as accepted:
                assert accepted.status_code == 204
            with session.post(hook, data=body, timeout=5) as unsigned:
                assert unsigned.status_code == 401
            with session.get(url + "/healthz", timeout=5) as health:
                assert health.json()["inbox_depth"] == 1
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130  # stopped by Ctrl-C
    assert "refused POST /webhooks/hubspot from 127.0.0.1: missing X-HubSpot-Signature-v3" in err
    assert SECRET not in banner + out + err
