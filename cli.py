"""leadsync command line: thin adapters over the library (see docs and `leadsync --help`)."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from connector import settings as settings_mod
from connector.cache import Cache, open_cache
from connector.errors import ConfigError, LeadsyncError


@dataclass
class Globals:
    """What the group's options say; commands ask it for settings, cache and token."""

    db: str
    config: str | None
    base_url: str | None
    _settings: settings_mod.Settings | None = field(default=None, repr=False)

    def settings(self) -> settings_mod.Settings:
        if self._settings is None:
            self._settings = settings_mod.load(self.config)
        return self._settings

    def resolved_base_url(self) -> str:
        return (self.base_url or self.settings().base_url).rstrip("/")

    def cache(self) -> Cache:
        return open_cache(self.db)

    def token(self) -> str:
        return settings_mod.access_token()


class LeadsyncGroup(click.Group):
    """Turns library errors into one-line messages: exit 2 for bad input, 1 for the rest."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except LeadsyncError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


def _default_config() -> str | None:
    return "leadsync.toml" if Path("leadsync.toml").is_file() else None


@click.group(cls=LeadsyncGroup)
@click.option("--db", default="leadsync.db", envvar="LEADSYNC_DB", show_default=True,
              help="SQLite cache file (env LEADSYNC_DB).")
@click.option("--config", "config", default=None, type=click.Path(dir_okay=False),
              help="Config file [default: leadsync.toml if present].")
@click.option("--base-url", default=None, envvar="LEADSYNC_BASE_URL",
              help="HubSpot API base URL (env LEADSYNC_BASE_URL) [default: https://api.hubapi.com].")
@click.version_option(package_name="leadsync")
@click.pass_context
def cli(ctx: click.Context, db: str, config: str | None, base_url: str | None) -> None:
    """leadsync: HubSpot lead scoring you can read, test and trust.

    Pull HubSpot into a local SQLite cache, score every contact with the rules in one
    TOML model, and write back scores, grades and lifecycle stages only where they changed.
    The access token is read from HUBSPOT_ACCESS_TOKEN only.
    """
    ctx.obj = Globals(db=db, config=config if config is not None else _default_config(),
                      base_url=base_url)


def emit(summary: dict, as_json: bool, text: str) -> None:
    """Print a command's summary: the JSON document with --json, else the human text."""
    click.echo(json.dumps(summary, indent=2, sort_keys=True, default=str) if as_json else text)


@cli.command()
@click.option("--path", default="leadsync.toml", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the starter config.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented starter leadsync.toml."""
    written = settings_mod.write_starter(path, force=force)
    click.echo(f"Wrote {written}. Edit it, export HUBSPOT_ACCESS_TOKEN, then run `leadsync pull`.")


@cli.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--contacts", default=2000, show_default=True, type=click.IntRange(0, 2_000_000),
              help="How many contacts to generate.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed for the generated data.")
@click.option("--rate-limit", default=0, show_default=True, type=click.IntRange(0),
              help="Requests per 10 seconds (0 = no limit).")
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0),
              help="Added latency per request, in milliseconds.")
@click.option("--token", default="sandbox-token", show_default=True,
              help="Bearer token the sandbox accepts.")
def sandbox(port: int, contacts: int, seed: int, rate_limit: int, latency_ms: int, token: str) -> None:
    """Run a local HubSpot-compatible server with realistic seeded data (Ctrl-C stops it)."""
    import sandbox as sandbox_pkg

    try:
        sandbox_pkg.serve(port=port, contacts=contacts, seed=seed, rate_limit=rate_limit,
                          latency_ms=latency_ms, token=token, echo=click.echo)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
                               f"choose another --port") from None


def main() -> None:
    cli(prog_name="leadsync")


if __name__ == "__main__":
    sys.exit(main())
