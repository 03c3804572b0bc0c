"""What leadsync pulls from each HubSpot stream: its property allowlist and its dates.

Never "all properties": a GET asking for hundreds of properties fails with 414, and a pull
should carry exactly what scoring and write-back read. Config adds to these lists.
"""
from __future__ import annotations

from dataclasses import dataclass

ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks")


@dataclass(frozen=True)
class Stream:
    """One HubSpot object type as leadsync pulls it."""

    name: str
    properties: tuple[str, ...]
    modified_property: str
    associations: tuple[str, ...] = ()

    @property
    def is_engagement(self) -> bool:
        return self.name in ENGAGEMENT_TYPES


_ENGAGEMENT_COMMON = ("hs_timestamp", "hs_createdate", "hs_lastmodifieddate", "hs_object_id",
                      "hubspot_owner_id")

CONTACT_PROPERTIES = (
    "email", "firstname", "lastname", "jobtitle", "hs_seniority", "hs_role", "hs_buying_role",
    "company", "industry", "country", "numemployees", "annualrevenue", "hs_analytics_source",
    "hs_email_open", "hs_email_click", "hs_email_replied", "hs_email_bounce", "hs_email_optout",
    "hs_email_last_open_date", "hs_analytics_num_page_views", "hs_analytics_num_visits",
    "hs_analytics_last_visit_timestamp", "num_conversion_events", "num_unique_conversion_events",
    "recent_conversion_date", "recent_conversion_event_name", "first_conversion_date",
    "num_associated_deals", "lifecyclestage", "hs_lead_status", "createdate", "lastmodifieddate",
    "hs_object_id", "hs_merged_object_ids", "associatedcompanyid",
    "hs_v2_date_entered_lead", "hs_v2_date_entered_marketingqualifiedlead",
    "hs_v2_date_entered_salesqualifiedlead", "hs_v2_date_entered_opportunity",
    "hs_v2_date_entered_customer", "hubspot_owner_id", "hubspot_owner_assigneddate",
)

COMPANY_PROPERTIES = (
    "name", "domain", "industry", "numberofemployees", "annualrevenue", "country",
    "hs_is_target_account", "hs_ideal_customer_profile", "num_associated_contacts",
    "lifecyclestage", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_merged_object_ids",
)

ENGAGEMENT_PROPERTIES = {
    "calls": ("hs_call_direction", "hs_call_duration", "hs_call_status", "hs_call_disposition"),
    "emails": ("hs_email_direction", "hs_email_status", "hs_email_subject"),
    "meetings": ("hs_meeting_outcome", "hs_meeting_title", "hs_meeting_start_time",
                 "hs_meeting_end_time"),
    "notes": ("hs_note_body",),
    "tasks": ("hs_task_status", "hs_task_type", "hs_task_priority", "hs_task_subject"),
}


def default_streams() -> dict[str, Stream]:
    """The streams leadsync knows, keyed by name, with their default property allowlists."""
    streams = {
        "contacts": Stream("contacts", CONTACT_PROPERTIES, "lastmodifieddate",
                           ("companies",) + ENGAGEMENT_TYPES),
        "companies": Stream("companies", COMPANY_PROPERTIES, "hs_lastmodifieddate"),
    }
    for kind, props in ENGAGEMENT_PROPERTIES.items():
        streams[kind] = Stream(kind, _ENGAGEMENT_COMMON + props, "hs_lastmodifieddate")
    return streams


def with_extra(stream: Stream, extra: tuple[str, ...]) -> Stream:
    """`stream` with `extra` properties appended (duplicates dropped, order kept)."""
    merged = tuple(dict.fromkeys(stream.properties + tuple(extra)))
    return Stream(stream.name, merged, stream.modified_property, stream.associations)


def select(names: tuple[str, ...], extra: dict[str, tuple[str, ...]] | None = None) -> dict[str, Stream]:
    """The named streams, in the given order, with any extra properties the config adds."""
    known = default_streams()
    return {name: with_extra(known[name], (extra or {}).get(name, ())) for name in names}
