"""The README is tested: every command is in it, and its usage block runs as written."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import cli
from sandbox import Sandbox

README = (Path(__file__).parents[2] / "README.md").read_text()


def command_paths(group: click.Group, prefix: str = "leadsync") -> list[tuple[str, click.Command]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{prefix} {name}")
    return paths


@pytest.mark.parametrize("path, command", command_paths(cli), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_is_documented_and_explains_itself(path, command):
    assert f"`{path}" in README, f"{path} is missing from README.md"
    assert command.help and len(command.help.split()) >= 5, f"{path} needs a --help text"


def test_the_license_is_an_spdx_string_that_setuptools_reads_without_a_warning():
    import tomllib
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # a table is deprecated by setuptools
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to read SPDX


def test_the_two_make_commands_come_first():
    body = README.split("\n", 2)[2].lstrip()
    assert body.startswith("```sh\nmake demo") and "\nmake test" in body.split("```", 2)[1]


def usage_block() -> list[str]:
    section = README.split("## Using it on your portal", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_the_usage_block_runs_against_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Sandbox(contacts=200, seed=4) as sb:
        email = next(r["properties"]["email"] for r in sb.portal.truth("contacts")
                     if not r["archived"] and not r["mergedInto"])
        env = {"LEADSYNC_BASE_URL": sb.base_url}
        runner = CliRunner()
        for line in usage_block():
            if line.startswith("leadsync sandbox"):
                continue  # the sandbox above plays it (tests/cli/test_newcomer.py runs it too)
            if line.startswith("export "):
                name = re.match(r"export (\w+)=", line).group(1)
                env[name] = sb.base_url if name == "LEADSYNC_BASE_URL" else sb.token
                continue
            args = shlex.split(line.replace("jane@example.com", email))
            assert args[0] == "leadsync"
            result = runner.invoke(cli, args[1:], env=env, catch_exceptions=False)
            assert result.exit_code == 0, f"`{line}` failed: {result.output}"
        assert (tmp_path / "leadsync.toml").is_file() and (tmp_path / "leadsync.db").is_file()
