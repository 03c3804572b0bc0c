"""Property types: what HubSpot's string values mean, and how to turn them into comparable values.

HubSpot sends every value as a string. A rule compares `hs_email_click` as a number and
`recent_conversion_date` as a point in time only because we know those properties' types:
from the model's `[properties]` declarations, else the cached property catalog, else the
table of well-known HubSpot properties below, else "string".
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from math import isfinite
from typing import Iterable, Mapping

# Normalised types; HubSpot's (type, fieldType) pairs map onto these in `normalise_type`.
NUMBER, DATE, DATETIME, ENUMERATION, MULTISELECT, BOOL, STRING = (
    "number", "date", "datetime", "enumeration", "multiselect", "bool", "string")
TYPES = (NUMBER, DATE, DATETIME, ENUMERATION, MULTISELECT, BOOL, STRING)
TIME_TYPES = (DATE, DATETIME)

ENGAGEMENT_KINDS = ("calls", "emails", "meetings", "notes", "tasks")
OBJECT_TYPES = ("contacts", "companies", *ENGAGEMENT_KINDS)

# object type -> property name -> normalised type
Catalog = Mapping[str, Mapping[str, str]]


def _table(spec: str) -> dict[str, str]:
    codes = {"n": NUMBER, "d": DATE, "dt": DATETIME, "e": ENUMERATION, "m": MULTISELECT,
             "b": BOOL, "s": STRING}
    table = {}
    for item in spec.split():
        name, code = item.split(":")
        table[name] = codes[code]
    return table


_RECORD = "hs_object_id:n createdate:dt lastmodifieddate:dt hs_merged_object_ids:m"
_STAGE_DATES = " ".join(f"hs_v2_date_entered_{s}:dt hs_v2_date_exited_{s}:dt" for s in (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
    "customer", "evangelist", "other"))
_ENGAGEMENT = ("hs_object_id:n hs_createdate:dt hs_lastmodifieddate:dt hs_timestamp:dt "
               "hubspot_owner_id:e")

KNOWN_PROPERTIES: dict[str, dict[str, str]] = {
    "contacts": _table(f"""{_RECORD} {_STAGE_DATES}
        email:s firstname:s lastname:s jobtitle:s seniority:s hs_seniority:e hs_role:e
        hs_buying_role:m company:s industry:s country:s city:s state:s annualrevenue:s
        numemployees:e associatedcompanyid:n lifecyclestage:e hs_lead_status:e phone:s
        website:s hubspot_owner_id:e hubspot_owner_assigneddate:dt
        hs_email_open:n hs_email_click:n hs_email_delivered:n hs_email_bounce:n
        hs_email_replied:n hs_email_optout:b hs_email_last_open_date:dt
        hs_email_last_click_date:dt hs_email_last_reply_date:dt
        hs_analytics_source:e hs_analytics_num_page_views:n hs_analytics_num_visits:n
        hs_analytics_last_visit_timestamp:dt hs_analytics_first_visit_timestamp:dt
        num_conversion_events:n num_unique_conversion_events:n recent_conversion_date:dt
        recent_conversion_event_name:s first_conversion_date:dt first_conversion_event_name:s
        num_contacted_notes:n num_notes:n num_associated_deals:n notes_last_contacted:dt
        notes_last_updated:dt hs_last_sales_activity_timestamp:dt hs_sales_email_last_replied:dt
        """),
    "companies": _table(f"""{_RECORD} {_STAGE_DATES}
        name:s domain:s website:s industry:e numberofemployees:n annualrevenue:n country:s
        city:s state:s lifecyclestage:e hs_is_target_account:b hs_ideal_customer_profile:e
        num_associated_contacts:n num_associated_deals:n type:e hubspot_owner_id:e
        """),
    "calls": _table(f"""{_ENGAGEMENT} hs_call_direction:e hs_call_duration:n hs_call_status:e
        hs_call_disposition:e hs_call_title:s hs_call_body:s"""),
    "emails": _table(f"""{_ENGAGEMENT} hs_email_direction:e hs_email_status:e
        hs_email_subject:s hs_email_text:s"""),
    "meetings": _table(f"""{_ENGAGEMENT} hs_meeting_outcome:e hs_meeting_start_time:dt
        hs_meeting_end_time:dt hs_meeting_title:s hs_meeting_body:s"""),
    "notes": _table(f"{_ENGAGEMENT} hs_note_body:s"),
    "tasks": _table(f"""{_ENGAGEMENT} hs_task_status:e hs_task_type:e hs_task_priority:e
        hs_task_subject:s hs_task_body:s"""),
}


def normalise_type(hubspot_type: str | None, field_type: str | None = None) -> str:
    """Map HubSpot's (type, fieldType) onto leadsync's types; unknown types are strings."""
    if hubspot_type == "enumeration":
        if field_type == "checkbox":
            return MULTISELECT
        return BOOL if field_type == "booleancheckbox" else ENUMERATION
    return {NUMBER: NUMBER, DATE: DATE, DATETIME: DATETIME, BOOL: BOOL}.get(
        hubspot_type or "", STRING)


def catalog_from_rows(rows: Iterable[tuple[str, str, str | None, str | None]]) -> Catalog:
    """A catalog from `property_catalog` rows: (object_type, name, type, field_type)."""
    catalog: dict[str, dict[str, str]] = {}
    for object_type, name, hubspot_type, field_type in rows:
        catalog.setdefault(object_type, {})[name] = normalise_type(hubspot_type, field_type)
    return catalog


# --- coercion: raw string -> comparable value, or None when missing or unparseable ---------

# Coercers also accept already-typed values: derived inputs (days since last engagement,
# the free-email flag, the score itself) are computed, not read from HubSpot.

def to_number(raw: str | float | None) -> float | None:
    """A finite number, or None: "nan" and "inf" are no more a count than "abc" is."""
    if raw is None or raw == "" or raw is True or raw is False:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if isfinite(value) else None


def to_epoch(raw: str | None) -> float | None:
    """Seconds since the epoch (UTC) from `YYYY-MM-DD`, ISO datetimes or epoch milliseconds."""
    if not raw:
        return None
    if not isinstance(raw, str):
        return float(raw)  # already seconds: a computed value, never HubSpot's milliseconds
    try:
        if raw.isdigit() or (raw[0] == "-" and raw[1:].isdigit()):
            return int(raw) / 1000.0
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(),
                                    timezone.utc).timestamp()
        moment = datetime.fromisoformat(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def to_bool(raw: str | bool | None) -> bool | None:
    if raw is None or raw is True or raw is False:
        return raw
    return {"true": True, "false": False}.get(str(raw).strip().lower())


def to_options(raw: str | None) -> frozenset[str] | None:
    """A multi-select value `a;b` as its set of (casefolded) options."""
    if not raw:
        return None
    options = frozenset(part.strip().casefold() for part in raw.split(";") if part.strip())
    return options or None


def to_text(raw: str | None) -> str | None:
    return None if raw is None or raw == "" else str(raw)


COERCE = {NUMBER: to_number, DATE: to_epoch, DATETIME: to_epoch, BOOL: to_bool,
          MULTISELECT: to_options, ENUMERATION: to_text, STRING: to_text}
