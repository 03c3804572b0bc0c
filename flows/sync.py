"""The commands' one-call entry points: take the run lock, open the cache, record the run."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from analysis.rescore import RescoreSummary, load_models, rescore
from cache.catalog import require_setup, write_policy
from cache.database import Cache, open_cache
from cache.write_plan import plan_push
from cache.lock import run_lock
from connector.client import HubSpot
from connector.offline import load_export
from connector.owners import refresh_owners
from connector.pull import PullSummary, pull
from cache.outboxes import CONTACTS
from connector.company_push import company_guardrail
from connector.outbox import guardrail
from connector.push import PushSummary, push
from connector.setup import SetupReport, setup
from flows.company_flow import CompanyRun, CompanyStep
from flows.progress import StreamProgress
from foundation.errors import NotSetUp
from foundation.settings import Settings, WriteBack
from mappings.streams import select
from mappings.writeback import LifecyclePolicy, names_of
from scoring.models import ModelSet


def write_back_extra(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Extra pull properties plus the write-back ones of every model (the SLA ones too,
    whatever the model: HubSpot answers nothing for a property it lacks), so push diffs
    against HubSpot's values."""
    extra = dict(settings.extra_properties)
    models = [m.write_back for m in settings.models] if settings.configured_models else [
        settings.write_back]
    extra["contacts"] = tuple(extra.get("contacts", ())) + tuple(
        name for wb in models for name in names_of(replace(wb, followup=True)).values()
    ) + ("lifecyclestage",)
    if settings.company_model_path:
        # the company score properties (push diffs against them) and what the model reads
        company = settings.company_write_back
        extra["companies"] = tuple(extra.get("companies", ())) + (
            company.score, company.grade, company.reasons) + company_model_properties(settings)
    return extra


def company_model_properties(settings: Settings) -> tuple[str, ...]:
    """Company properties the company model's rules read (none when it does not load: the
    run that uses it reports why)."""
    from analysis.company_rescore import load_company
    from foundation.errors import ConfigError
    try:
        model = load_company(settings.company_model_path)
    except ConfigError:
        return ()
    return tuple(model.properties_used.get("companies", ()))


def write_targets(settings: Settings, models: ModelSet) -> list[WriteBack]:
    """What push writes: per written model, its properties (the SLA ones when its model has
    an [sla]); without [[models]], push.properties for the one model."""
    if not settings.configured_models:
        return [replace(settings.write_back, followup=bool(models.contacts[0].model.sla))]
    return [replace(config.write_back, followup=bool(model.model.sla))
            for config, model in zip(settings.models, models.contacts) if config.written]


def stage_policy(cache: Cache, settings: Settings, models: ModelSet) -> LifecyclePolicy | None:
    """How push may move lifecycle stages: the stage-driving model's rules (None: no model
    drives stages, or push.lifecycle_stage is off)."""
    driver = models.stage_driver
    return write_policy(cache, settings, driver.model) if driver is not None else None


def run_pull(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
             streams: tuple[str, ...], full: bool = False, from_json: str | None = None,
             wait: float = 0.0, quiet: bool = False) -> PullSummary:
    """`leadsync pull`: one locked, recorded pull (or offline load of an export)."""
    chosen = select(tuple(streams), write_back_extra(settings))
    with run_lock(db_path, "pull", wait=wait):
        cache = open_cache(db_path)
        with cache.run("pull") as run:
            if from_json:
                summary = PullSummary(streams=load_export(cache, from_json, chosen))
                summary.modes = {name: "from-json" for name in summary.streams}
            else:
                client = client_factory()
                progress = StreamProgress.for_terminal(quiet)
                if progress:
                    progress.watch(client.budget.waiting)
                try:
                    summary = pull(cache, client, chosen, full=full,
                                   overlap=timedelta(minutes=settings.overlap_minutes),
                                   concurrency=settings.concurrency, progress=progress,
                                   audit_share=settings.association_audit_share,
                                   sweep_pages=settings.archive_sweep_pages)
                finally:
                    if progress:
                        progress.close()
                if "contacts" in chosen:
                    summary.owners = refresh_owners(cache, client)
                    summary.api_calls = client.counters.calls
            run.api_calls = summary.api_calls
            run.records = summary.records
            run.details = summary.as_dict()
        cache.close()
    return summary


def run_setup(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
              wait: float = 0.0) -> SetupReport:
    """`leadsync setup`: create the write-back properties of every model, store the property
    catalog."""
    models = load_models(settings)
    driver = models.stage_driver
    stages = () if driver is None or not settings.write_back.lifecycle_stage else (
        tuple(driver.model.stages.managed) + tuple(r.name for r in driver.model.stages.rules))
    with run_lock(db_path, "setup", wait=wait):
        cache = open_cache(db_path)
        try:
            with cache.run("setup") as run:
                company = CompanyStep.of(settings, models)
                report = setup(cache, client_factory(), write_targets(settings, models),
                               model_stages=stages,
                               company_names=company.names if company else None)
                run.api_calls = report.api_calls
                run.details = report.as_dict()
        finally:
            cache.close()
    return report


def run_push(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
             dry_run: bool = False, max_changes: int | None = None,
             max_company_changes: int | None = None, retry_failed: bool = False,
             wait: float = 0.0, quiet: bool = True, full_check: bool = False) -> PushSummary:
    """`leadsync push`: the plan (--dry-run: no API call, no token needed) or the push; with a
    company model, the company scores too (after the contacts, as `sync` does). Both
    guardrails are checked before anything is sent: either one tripped sends nothing."""
    if dry_run:
        return dry_run_push(db_path, settings, retry_failed=retry_failed, full_check=full_check,
                            max_changes=_limit(max_changes, settings.max_changes),
                            max_company_changes=_limit(max_company_changes,
                                                       settings.max_company_changes))
    with run_lock(db_path, "push", wait=wait):
        cache = open_cache(db_path)
        try:
            models = load_models(settings, cache)
            targets = write_targets(settings, models)
            policy = stage_policy(cache, settings, models)
            company = CompanyStep.of(settings, models)
            if company is not None:
                company.require_setup(cache)
            with cache.run("push") as run:
                client = client_factory()
                progress = StreamProgress.for_terminal(quiet)
                if progress:
                    progress.watch(client.budget.waiting)
                try:
                    planned, tripped = None, ()
                    if company is not None:
                        planned, tripped = company.guarded_plan(
                            cache, _limit(max_company_changes, settings.max_company_changes),
                            retry_failed=retry_failed)
                    summary = push(cache, client, targets, policy,
                                   max_changes=_limit(max_changes, settings.max_changes),
                                   retry_failed=retry_failed, concurrency=settings.concurrency,
                                   run_id=run.id, full_check=full_check, tripped=tripped,
                                   progress=progress and progress.step("push"))
                    if company is not None:
                        before = client.counters.calls
                        summary.companies = company.write(cache, client, run_id=run.id,
                                                          planned=planned,
                                                          concurrency=settings.concurrency)
                        summary.api_calls += client.counters.calls - before
                finally:
                    if progress:
                        progress.close()
                run.api_calls = summary.api_calls
                run.records = summary.contacts_written
                run.details = summary.as_dict(sample=20)
        finally:
            cache.close()
    return summary


def _limit(flag: int | None, configured: int) -> int:
    """A guardrail's limit: the command-line flag's, else leadsync.toml's."""
    return configured if flag is None else flag


def dry_run_push(db_path: str, settings: Settings, *, retry_failed: bool = False,
                 full_check: bool = False, max_changes: int | None = None,
                 max_company_changes: int | None = None) -> PushSummary:
    """`leadsync push --dry-run`: the plan, read from one consistent snapshot of the cache,
    with a note for each guardrail the plan is over (a push would then send nothing).

    It writes nothing, so it takes no run lock: it works while a sync or the webhook worker
    is writing, and shows the cache as of one instant of theirs."""
    cache = open_cache(db_path)
    try:
        with cache.snapshot():
            models = load_models(settings, cache)
            targets = write_targets(settings, models)
            policy = stage_policy(cache, settings, models)
            plan, backlog = plan_push(cache, targets, policy, retry_failed=retry_failed,
                                      full_check=full_check)
            summary = PushSummary(plan, backlog, dry_run=True, full_check=full_check)
            try:
                require_setup(cache.conn, targets)
            except NotSetUp as exc:
                summary.notes.append(str(exc))
            over = [guardrail(CONTACTS, backlog, (c.contact_id for c in plan.changes),
                              max_changes, "--max-changes")]
            company = CompanyStep.of(settings, models)
            if company is not None:
                summary.companies = company.plan(cache, retry_failed=retry_failed)
                over.append(company_guardrail(summary.companies, max_company_changes))
                try:
                    company.require_setup(cache)
                except NotSetUp as exc:
                    summary.notes.append(str(exc))
            summary.notes += [f"over the guardrail: {o.moving:,} {o.outbox.object_type} would "
                              f"change, more than {o.flag} {o.limit:,}; `leadsync push` would "
                              f"stop and send nothing (if this plan is right: {o.flag} "
                              f"{o.moving})" for o in over if o is not None]
    finally:
        cache.close()
    return summary


@dataclass
class SyncSummary:
    """`leadsync sync`: what the pull, the rescore and the push each did."""

    pull: PullSummary
    score: RescoreSummary
    push: PushSummary
    seconds: float = 0.0
    companies: CompanyRun | None = None

    def as_dict(self) -> dict:
        return {"pull": self.pull.as_dict(), "score": self.score.as_dict(),
                "push": self.push.as_dict(sample=20),
                "companies": None if self.companies is None else self.companies.as_dict(),
                "seconds": round(self.seconds, 2)}

    def render(self) -> str:
        push = self.push
        lines = [f"pull:  {self.pull.records:,} records new/changed/archived ({self.pull.api_calls:,} API calls)",
                 f"score: {self.score.scored:,} contacts scored, {self.score.changed:,} changed "
                 f"({self.score.promoted:,} promoted, {self.score.demoted:,} demoted)",
                 f"push:  {push.contacts_written:,} contacts written in {push.write_calls:,} batch "
                 f"calls, {len(push.failed):,} failed, {push.plan.unchanged:,} already up to date"]
        if push.failed or push.unaccounted or push.backlog.held:
            lines.append(push.render(sample=5))
        if self.companies is not None:
            lines.append(self.companies.render())
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)


def run_sync(db_path: str, settings: Settings, client_factory: Callable[[], HubSpot], *,
             max_changes: int | None = None, max_company_changes: int | None = None,
             wait: float = 0.0, quiet: bool = False,
             now: Callable[[], datetime] | None = None) -> SyncSummary:
    """`leadsync sync`: pull, rescore every contact, push what changed, as one recorded run.
    With a company model, both push guardrails are checked after the rescore and before
    anything is sent: either one tripped sends nothing (the pull and scores are kept)."""
    started = time.monotonic()
    chosen = select(tuple(settings.streams), write_back_extra(settings))
    with run_lock(db_path, "sync", wait=wait):
        cache = open_cache(db_path)
        try:
            models = load_models(settings, cache)
            targets = write_targets(settings, models)
            company = CompanyStep.of(settings, models)
            with cache.run("sync") as run:
                client = client_factory()
                require_setup(cache.conn, targets)
                if company is not None:
                    company.require_setup(cache)
                progress = StreamProgress.for_terminal(quiet)
                if progress:
                    progress.watch(client.budget.waiting)
                try:
                    pulled = pull(cache, client, chosen,
                                  overlap=timedelta(minutes=settings.overlap_minutes),
                                  concurrency=settings.concurrency, progress=progress,
                                  audit_share=settings.association_audit_share,
                                  sweep_pages=settings.archive_sweep_pages)
                    if "contacts" in chosen:
                        pulled.owners = refresh_owners(cache, client)
                        pulled.api_calls = client.counters.calls
                    as_of = now() if now else datetime.now(timezone.utc)
                    marks = company.marks(as_of) if company is not None else None
                    scored = rescore(cache, models, as_of, trigger="sync", run_id=run.id,
                                     progress=progress and progress.step("score"),
                                     company_scores=company.overlay if company else None,
                                     members=marks)
                    companies, planned, tripped = None, None, ()
                    if company is not None:
                        companies = company.rescore(cache, models, as_of, trigger="sync",
                                                    run_id=run.id, marks=marks)
                        planned, tripped = company.guarded_plan(
                            cache, _limit(max_company_changes, settings.max_company_changes))
                    pushed = push(cache, client, targets, stage_policy(cache, settings, models),
                                  max_changes=_limit(max_changes, settings.max_changes),
                                  concurrency=settings.concurrency, run_id=run.id,
                                  tripped=tripped, progress=progress and progress.step("push"))
                    if company is not None:
                        company.push(cache, client, companies, run_id=run.id, planned=planned,
                                     concurrency=settings.concurrency)
                finally:
                    if progress:
                        progress.close()
                summary = SyncSummary(pulled, scored, pushed, time.monotonic() - started,
                                      companies)
                run.api_calls = client.counters.calls
                run.records = pulled.records  # as `pull` counts them; status adds the writes
                run.details = summary.as_dict()
        finally:
            cache.close()
    return summary
