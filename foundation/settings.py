"""leadsync.toml: load, validate, and write the commented starter file.

One module over the usual size on purpose: the commented starter file (`STARTER`) documents
every key the parser below accepts, and the two are kept side by side so they cannot drift.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from foundation.errors import ConfigError

DEFAULT_BASE_URL = "https://api.hubapi.com"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"
SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
TIERS = (100, 190, 250)
STREAMS = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")
DEFAULT_MODEL = "default"  # the one model's name when leadsync.toml has no [[models]]


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
    model: str = DEFAULT_MODEL  # the model (in the cache) whose scores these properties carry


# WriteBack fields that name a HubSpot property (the rest say how and what to write)
PROPERTY_KEYS = ("score", "fit", "engagement", "grade", "reasons", "scored_at", "inactive",
                 "sla_status", "followup_due_at", "sla_met_at", "sla_breached")
_MODEL_KEYS = ("name", "path", "properties", "prefix", "applies_to", "drives_stages", "shadow",
               "write_back")


@dataclass(frozen=True)
class ModelConfig:
    """One contact model of leadsync.toml's [[models]] (or the single default model).

    `write_back` carries its property names and whether it writes lifecycle stages (the
    global push.lifecycle_stage switch and `drives_stages`); `written` is False for a shadow
    model kept in the cache only. `applies_to` is the raw condition, compiled by scoring."""

    name: str
    path: str | None
    write_back: WriteBack
    applies_to: dict | None = None
    drives_stages: bool = False
    shadow: bool = False
    written: bool = True


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
    max_company_changes: int = 5_000
    write_back: WriteBack = WriteBack()
    company_write_back: CompanyWriteBack = CompanyWriteBack()
    webhook_public_url: str | None = None
    webhook_batch_window_ms: int = 300
    webhook_max_attempts: int = 5
    source: str | None = None
    # [conversion]: what counts as converting for backtest and learn, as written (scoring/
    # outcomes.py compiles it against the model's property types); empty: the default.
    conversion: dict = field(default_factory=dict)
    # the contact models: [[models]] in order, else the one default model (model_path)
    models: tuple[ModelConfig, ...] = ()
    configured_models: bool = False  # whether leadsync.toml has [[models]]

    def __post_init__(self) -> None:
        if not self.models:
            object.__setattr__(self, "models", (ModelConfig(
                DEFAULT_MODEL, self.model_path, self.write_back, drives_stages=True),))

    def model_named(self, name: str) -> ModelConfig:
        """The configured model called `name`, or ConfigError listing the names."""
        for model in self.models:
            if model.name == name:
                return model
        raise ConfigError(f"{self.source or 'leadsync.toml'}: no model named {name!r}; the "
                          f"config has {', '.join(m.name for m in self.models)}")


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
max_company_changes = 5000  # the same for the company scores' write-back (--max-company-changes overrides)
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

# Several contact models (docs/model.md, "Several models"): each with its own properties,
# an optional segment, at most one driving lifecycle stages, challengers in shadow.
# [[models]]
# name = "product_a"
# path = "models/a.toml"
# prefix = "leadsync_a_"                 # or properties = { score = "a_score", ... }
# applies_to = { country = { in = ["DE", "AT"] } }
# drives_stages = true
# [[models]]
# name = "challenger"
# path = "models/challenger.toml"
# shadow = true                          # scored and compared, never moves a stage
# write_back = false                     # a shadow model's properties are written only if true

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
    "push": {"max_changes", "max_company_changes", "lifecycle_stage", "properties",
             "company_properties"},
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
        if section == "models":
            continue
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
    write_back = _write_back(push, source)
    models = _models(raw.get("models"), source, write_back, scoring)
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
        max_company_changes=_int(push, "max_company_changes", 5_000, source, "push", low=0),
        write_back=write_back,
        company_write_back=_company_write_back(push, source),
        webhook_public_url=hooks.get("public_url"),
        webhook_batch_window_ms=_int(hooks, "batch_window_ms", 300, source, "webhooks", low=0),
        webhook_max_attempts=_int(hooks, "max_attempts", 5, source, "webhooks"),
        source=source,
        models=models,
        configured_models=bool(models),
        conversion=dict(raw.get("conversion", {})),
    )


def _models(raw: object, source: str, write_back: WriteBack, scoring: dict
            ) -> tuple[ModelConfig, ...]:
    """[[models]]: validated one by one, then across (names, properties, stage drivers)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise ConfigError(f"{source}: models must be an array of tables: [[models]] with name "
                          f"and path")
    if "model" in scoring:
        raise ConfigError(f"{source}: scoring.model and [[models]] both name models; give each "
                          f"model a [[models]] entry (with its path) and remove scoring.model")
    models = tuple(_model(entry, i, source, write_back) for i, entry in enumerate(raw))
    seen: dict[str, str] = {}
    owners: dict[str, str] = {}
    driver = None
    for i, model in enumerate(models):
        where = f"models[{i}] ({model.name})"
        if model.name in seen:
            raise ConfigError(f"{source}: {where}.name: {seen[model.name]} already has this "
                              f"name; model names must differ")
        seen[model.name] = where
        if model.drives_stages:
            if driver is not None:
                raise ConfigError(f"{source}: {where}.drives_stages: only one model may drive "
                                  f"lifecycle stages and {driver} already does; set "
                                  f"drives_stages = false on one of them")
            driver = where
        if not model.written:
            continue
        for key in PROPERTY_KEYS:
            name = getattr(model.write_back, key)
            if name in owners:
                raise ConfigError(f"{source}: {where}.properties.{key}: {owners[name]} already "
                                  f"writes {name}; each model needs its own properties (a "
                                  f"different prefix)")
            owners[name] = f"models[{i}] ({model.name})"
    return models


def _model(entry: dict, i: int, source: str, write_back: WriteBack) -> ModelConfig:
    name = entry.get("name")
    where = f"models[{i}]" + (f" ({name})" if isinstance(name, str) else "")
    for key in entry:
        if key not in _MODEL_KEYS:
            raise ConfigError(f"{source}: unknown key {where}.{key}; expected one of "
                              f"{', '.join(sorted(_MODEL_KEYS))}")
    if not isinstance(name, str) or not _identifier(name):
        raise ConfigError(f"{source}: {where}.name must be a lowercase name (letters, digits, _), "
                          f"got {name!r}")
    path = entry.get("path")
    if path is not None and (not isinstance(path, str) or not path):
        raise ConfigError(f"{source}: {where}.path must be a path to a model file")
    if path is not None and not os.path.isabs(path):
        path = str(Path(source).parent / path)
    flags = {}
    for flag in ("drives_stages", "shadow", "write_back"):
        value = entry.get(flag)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{source}: {where}.{flag} must be true or false")
        flags[flag] = value
    shadow = bool(flags["shadow"])
    drives = bool(flags["drives_stages"])
    if shadow and drives:
        raise ConfigError(f"{source}: {where}.drives_stages: a shadow model never moves a stage; "
                          f"set shadow = false to let it drive stages (or `leadsync promote`)")
    written = flags["write_back"] if flags["write_back"] is not None else not shadow
    if drives and not written:
        raise ConfigError(f"{source}: {where}.write_back: the model that drives lifecycle stages "
                          f"writes its properties too; remove write_back = false")
    applies_to = entry.get("applies_to")
    if applies_to is not None and (not isinstance(applies_to, dict) or not applies_to):
        raise ConfigError(f"{source}: {where}.applies_to must be a table of conditions, e.g. "
                          f'{{ country = {{ in = ["DE", "AT"] }} }}')
    names = _model_properties(entry, where, name, source)
    return ModelConfig(name, path, replace(write_back, **names, model=name,
                                           lifecycle_stage=write_back.lifecycle_stage and drives),
                       applies_to=applies_to, drives_stages=drives, shadow=shadow,
                       written=written)


def _model_properties(entry: dict, where: str, name: str, source: str) -> dict[str, str]:
    """A model's property names: its `properties`, the rest `prefix` + key
    (default prefix leadsync_<name>_)."""
    prefix = entry.get("prefix", f"leadsync_{name}_")
    if not isinstance(prefix, str) or not _property_name(prefix + "score"):
        raise ConfigError(f"{source}: {where}.prefix must start lowercase HubSpot property names "
                          f"(letters, digits, _), got {prefix!r}")
    given = entry.get("properties", {})
    if not isinstance(given, dict):
        raise ConfigError(f"{source}: {where}.properties must be a table, e.g. "
                          f'{{ score = "leadsync_a_score" }}')
    names = {key: prefix + key for key in PROPERTY_KEYS}
    for key, value in given.items():
        if key not in PROPERTY_KEYS:
            raise ConfigError(f"{source}: unknown key {where}.properties.{key}; expected one of "
                              f"{', '.join(PROPERTY_KEYS)}")
        if not isinstance(value, str) or not _property_name(value):
            raise ConfigError(f"{source}: {where}.properties.{key} must be a lowercase HubSpot "
                              f"property name (letters, digits, _), got {value!r}")
        names[key] = value
    return names


def _identifier(text: str) -> bool:
    return bool(text) and text[0].isalpha() and _property_name(text)


def _property_name(text: str) -> bool:
    return text.replace("_", "").isalnum() and text == text.lower() and text.isascii()


def _write_back(push: dict, source: str) -> WriteBack:
    names = push.get("properties", {})
    defaults = WriteBack()
    fields = {}
    for key, value in names.items():
        if key not in defaults.__dataclass_fields__ or key in ("lifecycle_stage", "followup",
                                                               "model"):
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

