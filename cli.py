"""leadsync command line: thin adapters over the library (see docs and `leadsync --help`).

One module over the usual size on purpose: the product fixes `cli.py` as the one place
commands live, each a short adapter (options, one library call, print), and the only place
errors become exit codes; read together, the options and exit codes stay consistent.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cache.database import Cache, damaged, is_damaged, open_cache, require_cache
from foundation import settings as settings_mod
from foundation import shutdown
from foundation.errors import AuthError, ConfigError, LeadsyncError, MissingScopes

# Exit codes (README "Exit codes"): 0 done; 1 failed; 2 the user must fix something (input,
# config, token, --base-url, --db); 3 push/sync finished but some contacts failed to write;
# 130 stopped by Ctrl-C, 143 stopped by SIGTERM.
EXIT_FAILED = 1
EXIT_USER = 2
EXIT_SOME_FAILED = 3
STOPPED = "stopped; rerun to resume"

if TYPE_CHECKING:
    from connector.client import HubSpot


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
        """The existing cache, for read-only commands (NoCache if there is none: exit 2)."""
        return open_cache(require_cache(self.db))

    def existing_db(self) -> str:
        """The cache path, checked to exist (commands that only read or rescore what a pull
        brought create nothing)."""
        return require_cache(self.db)

    def token(self) -> str:
        return settings_mod.access_token()

    def client(self) -> "HubSpot":
        """A HubSpot client for the configured portal; needs HUBSPOT_ACCESS_TOKEN."""
        from connector.client import connect

        settings = self.settings()
        return connect(base_url=self.resolved_base_url(), token=self.token(), tier=settings.tier,
                       concurrency=settings.concurrency, on_retry=say_retry)


def say_retry(line: str) -> None:
    """One stderr line per retry, always (cron mails show them too); on a terminal it first
    clears a progress line."""
    click.echo(("\r\033[K" if sys.stderr.isatty() else "") + line, err=True)


class LeadsyncGroup(click.Group):
    """Turns library errors into one-line messages and the README's exit codes: 2 for what
    the user must fix, 1 for the rest, 130/143 when a signal stopped the command."""

    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(f"\n{STOPPED}" if sys.stderr.isatty() else STOPPED, err=True)
            ctx.exit(shutdown.exit_code())
        except (ConfigError, AuthError, MissingScopes) as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_USER)
        except LeadsyncError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_FAILED)
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise
            click.echo(f"Error: {damaged(ctx.obj.db, exc)}", err=True)
            ctx.exit(EXIT_FAILED)
        if shutdown.stopping():  # serve, worker and sandbox end normally on a signal
            click.echo("stopped", err=True)
            ctx.exit(shutdown.exit_code())
        return result


def exit_if_some_failed(summary, companies=None) -> None:
    """Exit 3 after printing a push whose writes (contacts', or `companies`' push: a company
    model's) did not all succeed (cron notices)."""
    companies = companies if companies is not None else getattr(summary, "companies", None)
    if not summary.dry_run and (summary.failed or summary.unaccounted
                                or (companies is not None
                                    and (companies.failed or companies.unaccounted))):
        click.get_current_context().exit(EXIT_SOME_FAILED)


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
    if ctx.obj.config is not None and not ctx.resilient_parsing:
        ctx.obj.settings()  # a broken config fails every command, at once, in one line


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
    except OSError as exc:  # the sandbox's own message already says what to do
        raise ConfigError(f"cannot start the sandbox: {exc.strerror or exc}") from None


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--public-url", default=None,
              help="The URL HubSpot calls, if behind a proxy [default: webhooks.public_url].")
@click.option("--trust-forwarded", is_flag=True,
              help="Rebuild the signed URL from X-Forwarded-Proto/-Host (only behind your proxy).")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True,
              type=click.IntRange(1024), help="Larger deliveries are refused with 413.")
@click.option("--no-worker", is_flag=True,
              help="Only receive: leave processing to a separate `leadsync worker`.")
@click.pass_obj
def serve(g: Globals, host: str, port: int, public_url: str | None, trust_forwarded: bool,
          max_body_bytes: int, no_worker: bool) -> None:
    """Receive HubSpot webhooks: verify, file in the inbox, answer 204 (Ctrl-C stops)."""
    import logging

    from webhooks import receiver

    config = receiver.ReceiverConfig(
        secret=settings_mod.client_secret(), max_body_bytes=max_body_bytes,
        public_url=public_url or g.settings().webhook_public_url, trust_forwarded=trust_forwarded)
    app = receiver.Receiver(g.db, config)
    app.prepare()  # a bad --db fails here, in one line, before anything listens
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = []

    def announce(url: str) -> None:
        click.echo(f"Listening on {url} (POST {receiver.WEBHOOK_PATH}, GET {receiver.HEALTH_PATH}, "
                   f"GET {receiver.METRICS_PATH}); Ctrl-C stops")
        if not no_worker:  # started once listening, so a busy port fails first, in one line
            from webhooks.worker import start_in_background

            workers.append(start_in_background(g.db, g.settings(), lambda: g.client(),
                                               app.metrics.worker))

    try:
        receiver.serve(app, host, port, max_body_bytes=max_body_bytes, announce=announce)
    finally:
        for worker in filter(None, workers):
            worker.stop()
        app.close()


@cli.command()
@click.option("--once", is_flag=True, help="Process the events that are due, then exit.")
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache (with --once).")
@click.pass_obj
def worker(g: Globals, once: bool, wait: float) -> None:
    """Process webhook events from the inbox: re-read the contacts, rescore, push what changed."""
    import logging

    from webhooks.worker import run_worker

    if not once:  # --once prints its own summary
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(g.db, g.settings(), lambda: g.client(), once=once, wait=wait, echo=click.echo)


@cli.command()
@click.option("--full", is_flag=True, help="Re-list every record instead of searching for changes.")
@click.option("--stream", "streams", multiple=True, type=click.Choice(settings_mod.STREAMS),
              help="Pull only this stream (repeatable) [default: pull.streams from the config].")
@click.option("--from-json", type=click.Path(dir_okay=False),
              help="Load exported records from a JSON file instead of calling HubSpot.")
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def pull(g: Globals, full: bool, streams: tuple[str, ...], from_json: str | None, wait: float,
         quiet: bool, as_json: bool) -> None:
    """Bring the cache in step with HubSpot: first run lists everything, later runs fetch
    only what changed (plus archived and merged records). Safe to kill and re-run."""
    from flows.sync import run_pull

    settings = g.settings()
    summary = run_pull(g.db, settings, lambda: g.client(), streams=streams or settings.streams,
                       full=full, from_json=from_json, wait=wait, quiet=quiet or as_json)
    emit(summary.as_dict(), as_json, summary.render())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def status(g: Globals, as_json: bool) -> None:
    """Show watermarks, record counts, queues, the daily API budget and the last runs."""
    from flows import status as status_mod

    cache = g.cache()
    try:
        report = status_mod.status(cache, settings=g.settings())
    finally:
        cache.close()
    emit(report, as_json, status_mod.render(report))


@cli.command()
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def setup(g: Globals, wait: float, as_json: bool) -> None:
    """Create leadsync's property group and write-back properties in HubSpot (idempotent),
    check the model's lifecycle stages exist there, and cache the property catalog."""
    from flows.sync import run_setup

    report = run_setup(g.db, g.settings(), lambda: g.client(), wait=wait)
    emit(report.as_dict(), as_json, report.render())


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the plan only: no API call, no token needed.")
@click.option("--max-changes", type=click.IntRange(0), default=None,
              help="Stop before sending if more contacts would change [default: push.max_changes].")
@click.option("--max-company-changes", type=click.IntRange(0), default=None,
              help="Stop before sending if more companies would change (with a company model) "
                   "[default: push.max_company_changes].")
@click.option("--retry-failed", is_flag=True,
              help="Also resend contacts and companies whose earlier writes failed for a non-retriable reason.")
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache.")
@click.option("--full-check", is_flag=True,
              help="Plan every scored contact, not only those changed since their last push.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and summary as JSON (all changes).")
@click.pass_obj
def push(g: Globals, dry_run: bool, max_changes: int | None, max_company_changes: int | None,
         retry_failed: bool, wait: float, full_check: bool, quiet: bool, as_json: bool) -> None:
    """Write scores, grades and lifecycle stages to HubSpot where they differ from what it has."""
    from flows.sync import run_push

    summary = run_push(g.existing_db(), g.settings(), lambda: g.client(), dry_run=dry_run,
                       max_changes=max_changes, max_company_changes=max_company_changes,
                       retry_failed=retry_failed, wait=wait, quiet=quiet or as_json,
                       full_check=full_check)
    emit(summary.as_dict(), as_json, summary.render())
    exit_if_some_failed(summary)


@cli.group()
def model() -> None:
    """Check and show the scoring model (the rules in one TOML file)."""


@model.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_obj
def model_check(g: Globals, file: str | None) -> None:
    """Validate a model file [default: scoring.model from the config, else the starter].

    Property names are checked against the cached HubSpot property catalog when there is one."""
    from analysis.rescore import load_model

    cache = g.cache() if Path(g.db).is_file() else None
    settings = g.settings()
    if file is None and settings.configured_models:
        from analysis.rescore import load_models

        for entry in load_models(settings, cache).contacts:  # segments checked too
            click.echo(f"{entry.model.source}: OK, model {entry.name} ({entry.model.label})")
        return
    checked = load_model(file or settings.model_path, cache)
    click.echo(f"{checked.source}: OK, model {checked.label}: {len(checked.fit.rules)} fit rules, "
               f"{len(checked.engagement.rules)} engagement rules, "
               f"{len(checked.stages.rules)} stage conditions")


@model.command("show")
@click.pass_obj
def model_show(g: Globals) -> None:
    """Print the model in use (the starter unless the config names one); redirect it to copy it."""
    from analysis.rescore import load_model

    settings = g.settings()
    for config in settings.models:  # one model, or each of [[models]]
        shown = load_model(config.path)
        heading = f" (model {config.name})" if settings.configured_models else ""
        click.echo(f"# {shown.source}{heading}\n{shown.text}", nl=False)


@cli.command("score")
@click.option("--contact", "contacts", multiple=True, metavar="ID|EMAIL",
              help="Score only this contact (repeatable), and its companies with a company "
                   "model [default: every cached contact and company].")
@click.option("--as-of", default=None, metavar="DATE", help="Score as of this date or ISO time, UTC [default: now].")
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def score_command(g: Globals, contacts: tuple[str, ...], as_of: str | None, wait: float,
                  quiet: bool, as_json: bool) -> None:
    """Rescore cached contacts (every model), then, with a company model, their companies and
    the contacts whose rules read a changed company score; store scores, and history rows
    where total, grade or stage changed."""
    from flows.progress import terminal_progress
    from flows.score import run_score
    from foundation.moments import parse_moment

    with terminal_progress(quiet or as_json) as bars:
        summary = run_score(g.existing_db(), g.settings(), parse_moment(as_of),
                            contacts=contacts, wait=wait, progress=bars and bars.step("score"))
    emit(summary.as_dict(), as_json, summary.render())


@cli.command("explain")
@click.argument("contact", required=False, metavar="ID|EMAIL")
@click.option("--company", default=None, metavar="ID|DOMAIN",
              help="Explain a company's score (the company model) instead of a contact's.")
@click.option("--as-of", default=None, metavar="DATE", help="Explain the score as of this date, UTC [default: now].")
@click.option("--model", "model_name", default=None, metavar="NAME",
              help="The configured model ([[models]] name) to explain with [default: the one "
                   "driving lifecycle stages].")
@click.option("--json", "as_json", is_flag=True, help="Print the breakdown as JSON.")
@click.pass_obj
def explain_command(g: Globals, contact: str | None, company: str | None, as_of: str | None,
                    model_name: str | None, as_json: bool) -> None:
    """Show why a contact (or, with --company, a company) scores what it does: every rule
    that fired, caps, grade and stage."""
    from analysis.company_rescore import explain_company_ref
    from analysis.explain import explain_contact
    from foundation.moments import parse_moment

    if (contact is None) == (company is None):
        raise click.UsageError("name a contact (ID or email) or --company ID|DOMAIN, not both")
    if company is not None and model_name is not None:
        raise click.UsageError("--model names a contact model; drop it with --company")
    if company is not None:
        report = explain_company_ref(g.cache(), g.settings(), company, parse_moment(as_of))
    else:
        report = explain_contact(g.cache(), g.settings(), contact, parse_moment(as_of),
                                 model=model_name)
    emit(report.as_dict(), as_json, report.text)


@cli.command("history")
@click.argument("contact", required=False, metavar="[ID|EMAIL]")
@click.option("--since", default=None, metavar="DATE", help="Only changes from this date or ISO time on.")
@click.option("--model", "model_ref", default=None, metavar="NAME|VERSION",
              help="Only changes of this model ([[models]] name), or model file version or name.")
@click.option("--limit", default=None, type=click.IntRange(1), metavar="N",
              help="Only the newest N changes (still printed oldest first) [default: all].")
@click.option("--company", default=None, metavar="ID|DOMAIN|all",
              help="Company score changes instead: one company's, or `all`.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def history_command(g: Globals, contact: str | None, since: str | None, model_ref: str | None,
                    limit: int | None, company: str | None, as_csv: bool, as_json: bool) -> None:
    """Audit score changes: who (id and email), old -> new total, grade and stage, with model,
    trigger and push time (--company: company score changes)."""
    from cache.company_history import print_company_changes
    from cache.history import print_changes

    if company is not None:
        print_company_changes(g.cache(), None if company == "all" else company, limit=limit,
                              as_json=as_json, echo=click.echo)
        return
    print_changes(g.cache(), contact, since=since, model=model_ref, limit=limit,
                  form="csv" if as_csv else "json" if as_json else "text", echo=click.echo)


@cli.command()
@click.option("--max-changes", type=click.IntRange(0), default=None,
              help="Stop before sending if more contacts would change [default: push.max_changes].")
@click.option("--max-company-changes", type=click.IntRange(0), default=None,
              help="Stop before sending if more companies would change (with a company model) "
                   "[default: push.max_company_changes].")
@click.option("--wait", default=0.0, type=click.FloatRange(0), show_default=True,
              help="Seconds to wait for another run holding the cache.")
@click.option("--as-of", default=None, metavar="DATE",
              help="Score as of this date or ISO time, UTC [default: now; decay moves with it].")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sync(g: Globals, max_changes: int | None, max_company_changes: int | None, wait: float,
         as_of: str | None, quiet: bool, as_json: bool) -> None:
    """Pull what changed, rescore every contact, and push what differs: one run, one summary."""
    from flows.sync import run_sync
    from foundation.moments import parse_moment

    moment = parse_moment(as_of) if as_of else None
    summary = run_sync(g.db, g.settings(), lambda: g.client(), max_changes=max_changes,
                       max_company_changes=max_company_changes, wait=wait,
                       quiet=quiet or as_json, now=(lambda: moment) if moment else None)
    emit(summary.as_dict(), as_json, summary.render())
    exit_if_some_failed(summary.push, summary.companies and summary.companies.push)


@cli.command("simulate")
@click.option("--model", "model_path", default=None, type=click.Path(dir_okay=False),
              help="A candidate contact model file.")
@click.option("--company-model", "company_path", default=None, type=click.Path(dir_okay=False),
              help="A candidate company model file, compared with the stored company scores.")
@click.option("--as-of", default=None, metavar="DATE", help="Score as of this date or ISO time, UTC [default: now].")
@click.option("--movers", default=10, show_default=True, type=click.IntRange(0),
              help="How many of the contacts (companies) that move most to show side by side.")
@click.option("--against", default=None, metavar="NAME",
              help="The configured model ([[models]] name) the --model candidate would replace "
                   "[default: the one driving lifecycle stages].")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (for CI).")
@click.pass_obj
def simulate_command(g: Globals, model_path: str | None, company_path: str | None,
                     as_of: str | None, movers: int, against: str | None, as_json: bool) -> None:
    """Compare a candidate model (--model; --company-model for companies; or both) with the
    current scores on the cache, writing nothing: grade (and stage) transitions, score
    distributions, top movers, and what a push would send."""
    from analysis.company_simulation import run_company_simulate
    from analysis.simulation import run_simulate
    from foundation.moments import parse_moment

    if model_path is None and company_path is None:
        raise ConfigError("name a candidate: --model FILE (contacts), --company-model FILE "
                          "(companies), or both")
    if against is not None and model_path is None:
        raise ConfigError("--against names the contact model --model would replace; "
                          "add --model FILE")
    moment, data, text = parse_moment(as_of), {}, []
    if model_path is not None:
        report = run_simulate(g.existing_db(), g.settings(), model_path, moment,
                              movers=movers, against=against)
        data, text = report.as_dict(), [report.render()]
    if company_path is not None:
        companies = run_company_simulate(g.existing_db(), g.settings(), company_path, moment,
                                         movers=movers)
        data["company"] = companies.as_dict()
        text.append(companies.render())
    emit(data, as_json, "\n\n".join(text))


@cli.command("compare")
@click.argument("challenger", required=False, metavar="[CHALLENGER]")
@click.option("--champion", default=None, metavar="NAME",
              help="The model to compare against [default: the one driving lifecycle stages].")
@click.option("--movers", default=10, show_default=True, type=click.IntRange(0),
              help="How many of the contacts whose scores differ most to show.")
@click.option("--horizon", default=90, show_default=True, type=click.IntRange(1), metavar="DAYS",
              help="Backtest: count conversions this many days after its as-of date.")
@click.option("--no-backtest", is_flag=True, help="Skip the side-by-side backtest.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def compare_command(g: Globals, challenger: str | None, champion: str | None, movers: int,
                    horizon: int, no_backtest: bool, as_json: bool) -> None:
    """Champion vs challenger (a shadow model) on the same contacts: grade agreement, who
    would move, and backtest figures side by side [default challenger: the shadow model]."""
    from analysis.compare import run_compare
    from foundation.moments import parse_moment
    from scoring.backtest import default_as_of

    as_of = None if no_backtest else default_as_of(parse_moment(None), horizon)
    result = run_compare(g.existing_db(), g.settings(), challenger=challenger, champion=champion,
                         movers=movers, backtest_as_of=as_of, horizon_days=horizon)
    emit(result.as_dict(), as_json, result.render())


@cli.command("promote")
@click.argument("name", metavar="NAME")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (needs --yes).")
@click.pass_obj
def promote_command(g: Globals, name: str, yes: bool, as_json: bool) -> None:
    """Make model NAME the champion in leadsync.toml (it drives lifecycle stages; the old
    champion becomes a shadow), after printing what the next push would send."""
    from flows.promote import plan_promotion
    from foundation.promotion import write_promotion

    if as_json and not yes:
        raise ConfigError("--json prints no question to answer; add --yes")
    planned = plan_promotion(g.db, g.config, name)
    emit(planned.as_dict(), as_json, planned.render())
    if not yes and not click.confirm(f"Write these changes to {planned.promotion.path}?"):
        raise ConfigError("nothing was changed")
    backup = write_promotion(planned.promotion)
    if not as_json:
        click.echo(f"Promoted {name} in {planned.promotion.path} (the previous file is {backup}); "
                   f"the next `leadsync sync` writes it to HubSpot.")


@cli.command("backtest")
@click.option("--model", "model_path", default=None, type=click.Path(dir_okay=False),
              help="Model to test [default: scoring.model from the config, else the starter].")
@click.option("--compare", "compare_path", default=None, type=click.Path(dir_okay=False),
              help="A second model, shown side by side.")
@click.option("--as-of", default=None, metavar="DATE",
              help="Score as of this past date, UTC [default: midnight, --horizon days ago].")
@click.option("--horizon", default=90, show_default=True, type=click.IntRange(1), metavar="DAYS",
              help="Count conversions this many days after --as-of ([conversion] in the config; default: entering opportunity or customer).")
@click.option("--capacity", default=None, type=click.IntRange(1), metavar="N",
              help="Leads sales can work per month: suggests the score threshold for that load.")
@click.option("--mql-score", default=None, type=float, metavar="SCORE",
              help="Count MQL as score >= SCORE [default: the model's MQL stage condition].")
@click.option("--random-baseline", is_flag=True, help="Add a random model for reference (AUC ~0.5).")
@click.option("--export", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write each contact's scores and outcome to FILE (.csv or .json).")
@click.option("--company-model", "company_path", default=None, type=click.Path(dir_okay=False),
              help="Backtest this company model too [default: scoring.company_model, if set].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def backtest_command(g: Globals, model_path: str | None, compare_path: str | None,
                     as_of: str | None, horizon: int, capacity: int | None,
                     mql_score: float | None, random_baseline: bool, export: str | None,
                     company_path: str | None, quiet: bool, as_json: bool) -> None:
    """Score contacts (and, with a company model, companies) as of a past date with only
    what was known then, and measure how well the scores ranked those who became
    opportunities or customers afterwards (a company: one of its contacts)."""
    from analysis.backtests import run_backtest
    from flows.progress import terminal_progress
    from foundation.moments import parse_moment
    from scoring.backtest import default_as_of, render

    moment = parse_moment(as_of) if as_of else default_as_of(parse_moment(None), horizon)
    with terminal_progress(quiet or as_json) as bars:
        result = run_backtest(g.existing_db(), g.settings(), model_path=model_path,
                              compare_path=compare_path, as_of=moment, horizon_days=horizon,
                              capacity=capacity, mql_score=mql_score,
                              random_baseline=random_baseline, export=export,
                              progress=bars and bars.step("backtest"),
                              company_model_path=company_path)
    emit(result.as_dict(), as_json, render(result))


@cli.command("learn")
@click.option("--model", "model_path", default=None, type=click.Path(dir_okay=False),
              help="The current model, whose rules are candidates [default: scoring.model, else the starter].")
@click.option("--out", default="learned_model.toml", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the learned model.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--as-of", default=None, metavar="DATE",
              help="Validation date, UTC [default: midnight, --horizon days ago].")
@click.option("--horizon", default=90, show_default=True, type=click.IntRange(1), metavar="DAYS",
              help="A contact converts if it does within this many days of a date.")
@click.option("--dates", default=3, show_default=True, type=click.IntRange(1, 24),
              help="Training dates, the latest a whole horizon before --as-of.")
@click.option("--every", default=30, show_default=True, type=click.IntRange(1), metavar="DAYS",
              help="Days between training dates.")
@click.option("--capacity", default=None, type=click.IntRange(1), metavar="N",
              help="Leads sales can work per week: sets the suggested MQL threshold.")
@click.option("--double-every", default=20.0, show_default=True, type=click.FloatRange(min=0.5),
              metavar="POINTS", help="The scale: this many points double the odds of converting.")
@click.option("--allow-current-counters", is_flag=True,
              help="Also fit on counters and latest-event values HubSpot keeps only as today's (leaks).")
@click.option("--max-rows", default=100_000, show_default=True, type=click.IntRange(1000),
              help="Non-converters used per date, at most: beyond it they are sampled.")
@click.option("--name", default="learned", show_default=True, help="The learned model's name.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def learn_command(g: Globals, model_path: str | None, out: str, force: bool, as_of: str | None,
                  horizon: int, dates: int, every: int, capacity: int | None,
                  double_every: float, allow_current_counters: bool, max_rows: int, name: str,
                  as_json: bool) -> None:
    """Fit the points of a rule model to who converted in the cache's history, and write it
    as a commented model file to review (simulate, backtest --compare). Never calls HubSpot."""
    from analysis.learn import Options, run_learn
    from analysis.learn_report import render
    from foundation.moments import parse_moment
    from scoring.backtest import default_as_of

    moment = parse_moment(as_of) if as_of else default_as_of(parse_moment(None), horizon)
    options = Options(as_of=moment, horizon_days=horizon, dates=dates, every_days=every,
                      capacity=capacity, double_every=double_every,
                      allow_current_counters=allow_current_counters, max_rows=max_rows, name=name)
    result = run_learn(g.existing_db(), g.settings(), model_path=model_path, out=out, options=options,
                       force=force)
    emit(result.as_dict(), as_json, render(result))


@cli.command("leakage")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="Write the contacts to act on today (SLA breached or due today) to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def leakage_command(g: Globals, csv_path: str | None, as_json: bool) -> None:
    """Where leads leak after scoring: MQLs never touched, SLA breaches, SQLs gone inactive and
    recycled leads, by owner, team, source and month; time to first touch per owner."""
    from analysis.leakage import run_leakage

    from scoring.models import primary_of

    result = run_leakage(g.existing_db(), csv_path, model=primary_of(g.settings().models).name)
    emit(result.as_dict(), as_json, result.render())


@cli.command("report")
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the HTML file.")
@click.option("--backtest", "backtest_id", default=None, type=click.IntRange(1), metavar="ID",
              help="The backtest to chart [default: the newest non-empty one of the scored model].")
@click.pass_obj
def report_command(g: Globals, out: str, backtest_id: int | None) -> None:
    """Write one self-contained HTML report: funnel, score and grade distributions, lift chart
    of a backtest, conversion by source, score trend and top rules, and top accounts with a
    company model (needs matplotlib: pip install 'leadsync[report]')."""
    from analysis.report import run_report

    written = run_report(g.existing_db(), out, backtest_id=backtest_id,
                         portal=g.resolved_base_url(), settings=g.settings())
    click.echo(f"Wrote {written}")


@cli.command("browse")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(1, 65535),
              help="Port on 127.0.0.1 (only this machine can connect).")
@click.option("--open/--no-open", "open_browser", default=None,
              help="Open a browser tab [default: when run from a terminal].")
@click.pass_context
def browse_command(ctx: click.Context, port: int, open_browser: bool | None) -> None:
    """Browse the cache in Datasette: contacts with scores, score changes with reasons in words,
    canned queries ("MQLs this week", "biggest score drops"); internal tables hidden (needs
    Datasette: pip install 'leadsync[browse]')."""
    from flows.browse import browse

    wanted = sys.stdout.isatty() if open_browser is None else open_browser
    code = browse(ctx.obj.existing_db(), port=port, open_browser=wanted, echo=click.echo)
    if code:
        ctx.exit(code)


@cli.command()
@click.option("--contacts", default=2000, show_default=True, type=click.IntRange(10, 100_000),
              help="How many contacts the demo portal holds.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed for the demo data.")
@click.option("--dir", "workdir", default="leadsync-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the demo's cache and report (replaced).")
@click.pass_obj
def demo(g: Globals, contacts: int, seed: int, workdir: str) -> None:
    """Run the whole loop against a local HubSpot sandbox: setup, pull, score, push, report.
    With a config (--config, or leadsync.toml here), its models and company model score the
    sandbox (top accounts too); its portal settings are not used."""
    from flows.demo import Portal, run_demo
    from sandbox import Sandbox

    with Sandbox(contacts=contacts, seed=seed) as sb:
        click.echo(f"Started a local HubSpot sandbox at {sb.base_url} with {contacts:,} contacts "
                   f"(seed {seed}); your real portal is never touched.")
        stages = lambda: [r["properties"].get("lifecyclestage") for r in sb.portal.truth("contacts")  # noqa: E731
                          if not r["archived"] and not r["mergedInto"]]
        run_demo(Portal(sb.base_url, sb.token, stages), Path(workdir), click.echo, runnable(),
                 settings=g.settings())


def runnable(argv0: str | None = None) -> str:
    """How the user can type leadsync again: `leadsync` when that name on PATH is this very
    script, else its path (`.venv/bin/leadsync` after `make demo`, which activates nothing)."""
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name != "leadsync" or not script.is_file():
        return "leadsync"  # not the console script (python -m, a test runner)
    found = shutil.which("leadsync")
    if found and Path(found).resolve() == script.resolve():
        return "leadsync"
    relative = os.path.relpath(script.absolute())
    return relative if not relative.startswith("..") and os.sep in relative else str(script.absolute())


def main() -> None:
    """The console script: runs the command with Ctrl-C and SIGTERM turned into a clean stop.

    After a stop, threads may still be blocked in an HTTP read that nothing can cut short;
    everything they could write is rolled back or never started (they check the stop flag
    before writing), so the process leaves without waiting for them."""
    code: int | str | None = 0
    with shutdown.interrupted_by_signals():
        try:
            cli(prog_name="leadsync")
        except SystemExit as exc:
            code = exc.code
        except KeyboardInterrupt:  # a signal outside any command (while parsing, printing)
            click.echo(STOPPED, err=True)
            code = shutdown.exit_code()
    if shutdown.stopping():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else EXIT_FAILED)
    sys.exit(code)


if __name__ == "__main__":
    sys.exit(main())
