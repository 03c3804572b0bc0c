"""Bad input to commands, as a new user would type it: one line, non-zero exit."""
from __future__ import annotations

import socket

from click.testing import CliRunner

from cache.database import open_cache
from cli import cli


def run(args, env=None):
    result = CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.output


def test_sandbox_on_a_busy_port_is_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = run(["sandbox", "--port", str(port), "--contacts", "10"])
    assert code == 2 and out.count("\n") == 1
    assert out.startswith(f"Error: cannot start the sandbox: Port {port} on 127.0.0.1 is already in use")


def test_serve_without_a_client_secret_is_one_line(tmp_path):
    code, out = run(["--db", str(tmp_path / "c.db"), "serve", "--port", "0"], {"HUBSPOT_CLIENT_SECRET": ""})
    assert code == 2 and out.startswith("Error: HUBSPOT_CLIENT_SECRET is not set;") and out.count("\n") == 1


def test_hints_name_the_command_as_the_user_can_type_it(tmp_path, monkeypatch):
    from cli import runnable

    script = tmp_path / ".venv" / "bin" / "leadsync"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert runnable(".venv/bin/leadsync") == ".venv/bin/leadsync"  # `make demo` activates nothing
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin")
    script.chmod(0o755)
    assert runnable(str(script)) == "leadsync"  # an activated venv
    assert runnable("/usr/lib/python3/pytest") == "leadsync"


def test_a_bad_option_value_is_refused_by_click():
    code, out = run(["sandbox", "--port", "99999"])
    assert code == 2 and "Invalid value for '--port': 99999 is not in the range 0<=x<=65535." in out


def test_init_refuses_to_overwrite_and_status_on_a_fresh_cache_works(tmp_path):
    config = tmp_path / "leadsync.toml"
    assert run(["init", "--path", str(config)])[0] == 0
    code, out = run(["init", "--path", str(config)])
    assert (code, out.strip()) == (2, f"Error: {config} already exists; use --force to overwrite it")
    open_cache(tmp_path / "c.db").close()
    code, out = run(["--config", str(config), "--db", str(tmp_path / "c.db"), "status"])
    assert code == 0 and "never pulled" not in out and "Daily API budget left: unknown" in out
