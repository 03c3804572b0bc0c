"""leadsync.toml: load, validate, and write the commented starter file."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from foundation.errors import ConfigError

DEFAULT_BASE_URL = "https://api.hubapi.com"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"
SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
TIERS = (100, 190, 250)
STREAMS = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")


@dataclass(frozen=True)
class WriteBack:
    """Names of the HubSpot contact properties leadsync writes."""

    group: str = "leadsync"
    score: str = "leadsync_score"
    fit: str = "leadsync_fit"
    engagement: str = "leadsync_engagement"
    grade: str = "leadsync_grade"
    reasons: str = "leadsync_reasons"
    scored_at: str = "leadsync_scored_at"
    inactive: str = "leadsync_inactive"
    # handoff SLA properties, written only when the model has an [sla] (docs/model.md)
    sla_status: str = "leadsync_sla_status"
    followup_due_at: str = "leadsync_followup_due_at"
    sla_met_at: str = "leadsync_sla_met_at"
    sla_breached: str = "leadsync_sla_breached"
    lifecycle_stage: bool = True
    followup: bool = False  # set from the model (flows): whether the SLA properties are written


@dataclass(frozen=True)
class CompanyWriteBack:
    """Names of the HubSpot company properties leadsync writes (with a company model)."""

    score: str = "leadsync_company_score"
    grade: str = "leadsync_company_grade"
    reasons: str = "leadsync_company_reasons"


@dataclass(frozen=True)
class Settings:
    """Everything leadsync.toml can say, with defaults for what it does not."""

    base_url: str = DEFAULT_BASE_URL
    tier: int = 190
    daily_limit: int = 625_000
    concurrency: int = 16
    streams: tuple[str, ...] = STREAMS
    overlap_minutes: int = 10
    association_audit_share: float = 0.05
    archive_sweep_pages: int = 1
    extra_properties: dict[str, tuple[str, ...]] = field(default_factory=dict)
    model_path: str | None = None
    company_model_path: str | None = None
    max_changes: int = 5_000
    write_back: WriteBack = WriteBack()
    company_write_back: CompanyWriteBack = CompanyWriteBack()
    webhook_public_url: str | None = None
    webhook_batch_window_ms: int = 300
    webhook_max_attempts: int = 5
    source: str | None = None
    # [conversion]: what counts as converting for backtest and learn, as written (scoring/
    # outcomes.py compiles it against the model's property types); empty: the default.
    conversion: dict = field(default_factory=dict)


STARTER = '''\
# leadsync configuration. Every key is optional; the values shown are the defaults.
# The HubSpot private-app token is read only from the environment (HUBSPOT_ACCESS_TOKEN),
# and the webhook client secret only from HUBSPOT_CLIENT_SECRET. Never put them here.

[hubspot]
# base_url = "https://api.hubapi.com"   # or --base-url / LEADSYNC_BASE_URL (e.g. a sandbox)
tier = 190              # requests per 10 seconds: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (limit pack)
daily_limit = 625000    # requests per day for your subscription
concurrency = 16        # requests in flight at once (batches overlap; the rate budget still rules)

[pull]
streams = ["contacts", "companies", "calls", "emails", "meetings", "notes", "tasks"]
overlap_minutes = 10    # incremental pulls re-read this much before the last watermark
# Link changes move no modified date: each incremental pull re-reads the links of the contacts
# verified longest ago, spending this share of one 10-second window of the rate budget (at
# least 1,000 contacts a run; 0 turns the audit off). `leadsync status` shows the bound in runs.
association_audit_share = 0.05
# Deletions move no modified date either: each incremental pull reads this many archived
# pages (100 records each) per stream, resuming where the last run stopped (0: never).
archive_sweep_pages = 1
# Properties pulled on top of what the model and the default mapping need:
# [pull.extra_properties]
# contacts = ["my_custom_field"]

[scoring]
# model = "model.toml"  # your rule model; default: leadsync's starter model (`leadsync model show`)
# company_model = "company.toml"  # account scores from company properties and contacts (docs/model.md)

[push]
max_changes = 5000      # a push about to change more contacts than this stops (--max-changes overrides)
lifecycle_stage = true  # write lifecycle stages the model decides (forward only unless the model says so)

[push.properties]       # HubSpot contact properties leadsync writes (created by `leadsync setup`)
group = "leadsync"
score = "leadsync_score"
fit = "leadsync_fit"
engagement = "leadsync_engagement"
grade = "leadsync_grade"
reasons = "leadsync_reasons"
scored_at = "leadsync_scored_at"
inactive = "leadsync_inactive"
# written only when the model has handoff SLAs ([sla] in the model file):
sla_status = "leadsync_sla_status"
followup_due_at = "leadsync_followup_due_at"
sla_met_at = "leadsync_sla_met_at"
sla_breached = "leadsync_sla_breached"

[push.company_properties]  # HubSpot company properties, written when a company model is set
score = "leadsync_company_score"
grade = "leadsync_company_grade"
reasons = "leadsync_company_reasons"

[webhooks]
# public_url = "https://leadsync.example.com/webhooks/hubspot"  # the URL HubSpot calls, if behind a proxy
batch_window_ms = 300   # how long the worker collects events before rescoring a batch
max_attempts = 5        # failed events are retried with backoff, then parked

[conversion]            # what counts as converting, for `backtest` and `learn` (docs/learn.md)
# stages = ["opportunity", "customer"] # the default: entering any of these (hs_v2_date_entered_<stage>)
# when = { hs_lead_status = "OPEN_DEAL" }   # or: a condition on the contact...
# dated_by = "my_deal_opened_date"         # ...with the date property that dates it
# label = { converted = "yes" }            # or: a static yes/no label (no as-of replay)
'''

_KNOWN = {
    "hubspot": {"base_url", "tier", "daily_limit", "concurrency"},
    "pull": {"streams", "overlap_minutes", "extra_properties", "association_audit_share",
             "archive_sweep_pages"},
    "scoring": {"model", "company_model"},
    "push": {"max_changes", "lifecycle_stage", "properties", "company_properties"},
    "webhooks": {"public_url", "batch_window_ms", "max_attempts"},
    "conversion": {"stages", "when", "dated_by", "label"},
}


def load(path: str | os.PathLike | None) -> Settings:
    """Read leadsync.toml at `path` (None: defaults). Raises ConfigError naming file and key."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; run `leadsync init` to write one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _parse(raw, str(path))


def _parse(raw: dict, source: str) -> Settings:
    for section, value in raw.items():
        if section not in _KNOWN:
            raise ConfigError(f"{source}: unknown section [{section}]; expected one of "
                              f"{', '.join(sorted(_KNOWN))}")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key in value:
            if key not in _KNOWN[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}; expected one of "
                                  f"{', '.join(sorted(_KNOWN[section]))}")
    hub, pull, push = raw.get("hubspot", {}), raw.get("pull", {}), raw.get("push", {})
    scoring, hooks = raw.get("scoring", {}), raw.get("webhooks", {})
    tier = _int(hub, "tier", 190, source, "hubspot")
    if tier not in TIERS:
        raise ConfigError(f"{source}: hubspot.tier must be one of {TIERS} (requests per 10 s), got {tier}")
    streams = pull.get("streams", list(STREAMS))
    if not isinstance(streams, list):  # a bare string would become its characters
        example = f'["{streams}"]' if isinstance(streams, str) else '["contacts", "companies"]'
        raise ConfigError(f"{source}: pull.streams must be a list of stream names, e.g. "
                          f"streams = {example}; choose from {', '.join(STREAMS)}")
    streams = tuple(streams)
    unknown = [s for s in streams if s not in STREAMS]
    if unknown or not streams:
        raise ConfigError(f"{source}: pull.streams has {unknown or 'nothing'}; choose from {', '.join(STREAMS)}")
    extra = pull.get("extra_properties", {})
    if not isinstance(extra, dict) or any(k not in STREAMS or not _strings(v) for k, v in extra.items()):
        raise ConfigError(f"{source}: pull.extra_properties must map a stream name to a list of property names")
    model = scoring.get("model")
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"{source}: scoring.model must be a path to a model file")
    if model is not None and not os.path.isabs(model):
        model = str(Path(source).parent / model)
    company = scoring.get("company_model")
    if company is not None and (not isinstance(company, str) or not company):
        raise ConfigError(f"{source}: scoring.company_model must be a path to a company model file")
    if company is not None and not os.path.isabs(company):
        company = str(Path(source).parent / company)
    return Settings(
        base_url=_str(hub, "base_url", DEFAULT_BASE_URL, source, "hubspot"),
        tier=tier,
        daily_limit=_int(hub, "daily_limit", 625_000, source, "hubspot"),
        concurrency=_int(hub, "concurrency", 16, source, "hubspot", high=64),
        streams=streams,
        overlap_minutes=_int(pull, "overlap_minutes", 10, source, "pull", low=0),
        association_audit_share=_share(pull, "association_audit_share", 0.05, source, "pull"),
        archive_sweep_pages=_int(pull, "archive_sweep_pages", 1, source, "pull", low=0),
        extra_properties={k: tuple(v) for k, v in extra.items()},
        model_path=model,
        company_model_path=company,
        max_changes=_int(push, "max_changes", 5_000, source, "push", low=0),
        write_back=_write_back(push, source),
        company_write_back=_company_write_back(push, source),
        webhook_public_url=hooks.get("public_url"),
        webhook_batch_window_ms=_int(hooks, "batch_window_ms", 300, source, "webhooks", low=0),
        webhook_max_attempts=_int(hooks, "max_attempts", 5, source, "webhooks"),
        source=source,
        conversion=dict(raw.get("conversion", {})),
    )


def _write_back(push: dict, source: str) -> WriteBack:
    names = push.get("properties", {})
    defaults = WriteBack()
    fields = {}
    for key, value in names.items():
        if key not in defaults.__dataclass_fields__ or key in ("lifecycle_stage", "followup"):
            raise ConfigError(f"{source}: unknown key push.properties.{key}")
        if not isinstance(value, str) or not value.replace("_", "").isalnum() or value != value.lower():
            raise ConfigError(f"{source}: push.properties.{key} must be a lowercase HubSpot property "
                              f"name (letters, digits, _), got {value!r}")
        fields[key] = value
    lifecycle = push.get("lifecycle_stage", True)
    if not isinstance(lifecycle, bool):
        raise ConfigError(f"{source}: push.lifecycle_stage must be true or false")
    return WriteBack(**fields, lifecycle_stage=lifecycle)


def _company_write_back(push: dict, source: str) -> CompanyWriteBack:
    names = push.get("company_properties", {})
    if not isinstance(names, dict):
        raise ConfigError(f"{source}: [push.company_properties] must be a table")
    for key, value in names.items():
        if key not in CompanyWriteBack.__dataclass_fields__:
            raise ConfigError(f"{source}: unknown key push.company_properties.{key}; expected "
                              f"one of {', '.join(CompanyWriteBack.__dataclass_fields__)}")
        if not isinstance(value, str) or not value.replace("_", "").isalnum() or value != value.lower():
            raise ConfigError(f"{source}: push.company_properties.{key} must be a lowercase "
                              f"HubSpot property name (letters, digits, _), got {value!r}")
    return CompanyWriteBack(**names)


def _int(table: dict, key: str, default: int, source: str, section: str,
         low: int = 1, high: int | None = None) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
        bound = f"between {low} and {high}" if high else f"at least {low}"
        raise ConfigError(f"{source}: {section}.{key} must be a whole number {bound}, got {value!r}")
    return value


def _share(table: dict, key: str, default: float, source: str, section: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{source}: {section}.{key} must be a share between 0 and 1 "
                          f"(0.05 = 5%), got {value!r}")
    return float(value)


def _str(table: dict, key: str, default: str, source: str, section: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {section}.{key} must be a non-empty string")
    return value


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def access_token(environ: dict[str, str] | None = None) -> str:
    """The HubSpot token from HUBSPOT_ACCESS_TOKEN, or ConfigError telling how to set it."""
    token = (environ if environ is not None else os.environ).get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"{TOKEN_ENV} is not set; export your HubSpot private app token "
                          f"(Settings → Integrations → Private apps) and run again")
    return token


def client_secret(environ: dict[str, str] | None = None) -> str:
    """The webhook client secret from HUBSPOT_CLIENT_SECRET, or ConfigError."""
    secret = (environ if environ is not None else os.environ).get(SECRET_ENV, "").strip()
    if not secret:
        raise ConfigError(f"{SECRET_ENV} is not set; export your HubSpot app's client secret "
                          f"so webhook signatures can be verified")
    return secret


def write_starter(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the commented starter leadsync.toml; refuses to overwrite unless `force`."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; use --force to overwrite it")
    try:
        path.write_text(STARTER, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
    return path
