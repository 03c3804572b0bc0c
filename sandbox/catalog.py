"""The property catalog: every property each object type knows, with HubSpot's types and options."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from .owners import ROSTER

OBJECT_TYPES = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")
ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks")
# Activity types HubSpot has and a contacts-scoped token may read, which the sandbox never
# seeds: they answer (properties, empty lists) so tools that read every type run unchanged.
UNSEEDED_TYPES = ("communications", "postal_mail")

# HubSpot's default lifecycle order; "other" sits outside the forward-only ladder.
LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED",
                 "ATTEMPTED_TO_CONTACT", "CONNECTED", "BAD_TIMING")
EMPLOYEE_RANGES = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000",
                   "1000-5000", "5000-10000", "10000+")
ANALYTICS_SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA",
                     "REFERRALS", "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
SENIORITIES = ("owner", "partner", "executive", "vp", "director", "manager", "senior", "entry")
INDUSTRIES = (
    ("COMPUTER_SOFTWARE", "Computer Software"),
    ("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services"),
    ("INTERNET", "Internet"),
    ("COMPUTER_NETWORK_SECURITY", "Computer & Network Security"),
    ("FINANCIAL_SERVICES", "Financial Services"),
    ("BANKING", "Banking"),
    ("INSURANCE", "Insurance"),
    ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
    ("MANAGEMENT_CONSULTING", "Management Consulting"),
    ("STAFFING_AND_RECRUITING", "Staffing and Recruiting"),
    ("TELECOMMUNICATIONS", "Telecommunications"),
    ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"),
    ("RETAIL", "Retail"),
    ("CONSUMER_GOODS", "Consumer Goods"),
    ("AUTOMOTIVE", "Automotive"),
    ("MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "Mechanical or Industrial Engineering"),
    ("LOGISTICS_AND_SUPPLY_CHAIN", "Logistics and Supply Chain"),
    ("REAL_ESTATE", "Real Estate"),
    ("HIGHER_EDUCATION", "Higher Education"),
    ("E_LEARNING", "E-Learning"),
    ("NON_PROFIT_ORGANIZATION_MANAGEMENT", "Non-Profit Organization Management"),
)
# HubSpot's default call outcomes are GUIDs; the labels are what users see.
CALL_DISPOSITIONS = (
    ("f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected"),
    ("a4c4c377-d246-4b32-a13b-75a56a4cd0ff", "Left live message"),
    ("b2cf5968-551e-4856-9783-52b3da59a7d0", "Left voicemail"),
    ("73a0d17f-1163-4015-bdd5-ec830791da20", "No answer"),
    ("9d9162e7-6cf3-4944-bf63-4dff82258764", "Busy"),
    ("17b47fee-58de-441e-a44c-c6300d46f273", "Wrong number"),
)
CATALOG_TIMESTAMP = "2019-08-06T02:41:52.015Z"

MODIFIED_DATE = {t: ("lastmodifieddate" if t == "contacts" else "hs_lastmodifieddate")
                 for t in OBJECT_TYPES + UNSEEDED_TYPES}
CREATED_DATE = {t: ("createdate" if t in ("contacts", "companies") else "hs_createdate")
                for t in OBJECT_TYPES + UNSEEDED_TYPES}
DEFAULT_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    **{t: () for t in ENGAGEMENT_TYPES + UNSEEDED_TYPES},
}


@dataclass(frozen=True)
class Option:
    """One enumeration choice; `value` is the internal value stored on records."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "displayOrder": self.display_order,
                "hidden": self.hidden, "description": self.description}


@dataclass(frozen=True)
class Property:
    """A property definition as `GET /crm/v3/properties/{type}` describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: tuple[Option, ...] = ()
    read_only: bool = False
    hubspot_defined: bool = True
    description: str = ""
    display_order: int = -1
    has_unique_value: bool = False
    hidden: bool = False
    form_field: bool = False
    calculated: bool = False
    created_at: str = CATALOG_TIMESTAMP
    updated_at: str = CATALOG_TIMESTAMP
    option_values: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_values", frozenset(o.value for o in self.options))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name, "label": self.label, "type": self.type,
            "fieldType": self.field_type, "description": self.description,
            "groupName": self.group_name,
            "options": [o.to_json() for o in self.options],
            "displayOrder": self.display_order, "calculated": self.calculated,
            "externalOptions": False, "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden, "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined and not self.options_editable,
                "readOnlyValue": self.read_only,
            },
            "formField": self.form_field, "createdAt": self.created_at,
            "updatedAt": self.updated_at, "archived": False,
        }
        if self.options_editable:
            body["modificationMetadata"]["readOnlyOptions"] = False
        return body

    @property
    def options_editable(self) -> bool:
        """Portal admins may edit these HubSpot-defined option lists."""
        return self.name in ("lifecyclestage", "hs_lead_status")


@dataclass(frozen=True)
class PropertyGroup:
    """A property group (`GET /crm/v3/properties/{type}/groups`)."""

    name: str
    label: str
    display_order: int = -1

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label,
                "displayOrder": self.display_order, "archived": False}


def options(pairs: Iterable[tuple[str, str]] | Iterable[str]) -> tuple[Option, ...]:
    """Options from (value, label) pairs or bare values (label = value)."""
    built = []
    for index, pair in enumerate(pairs):
        value, label = (pair, pair) if isinstance(pair, str) else pair
        built.append(Option(label=label, value=value, display_order=index))
    return tuple(built)


def _text(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name, label, "string", "text", group, **kw)


def _number(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name, label, "number", "number", group, **kw)


def _datetime(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name, label, "datetime", "date", group, **kw)


def _select(name: str, label: str, group: str, opts: tuple[Option, ...], **kw: Any) -> Property:
    return Property(name, label, "enumeration", kw.pop("field_type", "select"), group,
                    options=opts, **kw)


def _bool(name: str, label: str, group: str, **kw: Any) -> Property:
    return Property(name, label, "bool", "booleancheckbox", group,
                    options=options([("true", "Yes"), ("false", "No")]), **kw)


def _owner(group: str, label: str) -> Property:
    """hubspot_owner_id: its options are the portal's owners, as in HubSpot."""
    return _select("hubspot_owner_id", label, group,
                   options((o.id, f"{o.first} {o.last}") for o in ROSTER))


def _record_basics(object_type: str, group: str) -> list[Property]:
    created, modified = CREATED_DATE[object_type], MODIFIED_DATE[object_type]
    return [
        _number("hs_object_id", "Record ID", group, read_only=True),
        _datetime(created, "Create Date", group, read_only=True),
        _datetime(modified, "Last Modified Date", group, read_only=True),
    ]


def _merge_ids(group: str) -> Property:
    return Property("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox",
                    group, read_only=True)


def _lifecycle(group: str) -> list[Property]:
    stages = [_select("lifecyclestage", "Lifecycle Stage", group, options(LIFECYCLE_STAGES),
                      field_type="radio")]
    for value, label in LIFECYCLE_STAGES:
        stages.append(_datetime(f"hs_v2_date_entered_{value}", f"Date entered \"{label}\"",
                                group, read_only=True))
    return stages


def contact_properties() -> list[Property]:
    info, email, web, conv, sales = ("contactinformation", "emailinformation",
                                     "analyticsinformation", "conversioninformation",
                                     "sales_properties")
    return [
        *_record_basics("contacts", info),
        _text("email", "Email", info, has_unique_value=True, form_field=True),
        _text("firstname", "First Name", info, form_field=True),
        _text("lastname", "Last Name", info, form_field=True),
        _text("jobtitle", "Job Title", info, form_field=True),
        _text("seniority", "Seniority", info),
        _select("hs_seniority", "Seniority (enriched)", info, options(SENIORITIES)),
        _text("company", "Company Name", info, form_field=True),
        _text("industry", "Industry", info),
        _text("country", "Country/Region", info, form_field=True),
        _text("annualrevenue", "Annual Revenue", info),
        _select("numemployees", "Number of Employees", info, options(EMPLOYEE_RANGES)),
        _number("associatedcompanyid", "Primary Associated Company ID", info),
        _merge_ids(info),
        *_lifecycle(info),
        _select("hs_lead_status", "Lead Status", sales, options(LEAD_STATUSES),
                field_type="radio"),
        _owner(sales, "Contact owner"),
        _datetime("hubspot_owner_assigneddate", "Owner assigned date", sales, read_only=True),
        _number("hs_email_open", "Marketing emails opened", email, read_only=True),
        _number("hs_email_click", "Marketing emails clicked", email, read_only=True),
        _number("hs_email_delivered", "Marketing emails delivered", email, read_only=True),
        _number("hs_email_replied", "Marketing emails replied", email, read_only=True),
        _number("hs_email_bounce", "Marketing emails bounced", email, read_only=True),
        _bool("hs_email_optout", "Unsubscribed from all email", email),
        _datetime("hs_email_last_open_date", "Last marketing email open date", email,
                  read_only=True),
        _select("hs_analytics_source", "Original Traffic Source", web,
                options(ANALYTICS_SOURCES), read_only=True),
        _number("hs_analytics_num_page_views", "Number of Pageviews", web, read_only=True),
        _number("hs_analytics_num_visits", "Number of Sessions", web, read_only=True),
        _datetime("hs_analytics_last_visit_timestamp", "Time of Last Session", web,
                  read_only=True),
        _number("num_conversion_events", "Number of Form Submissions", conv, read_only=True),
        _number("num_unique_conversion_events", "Number of Unique Forms Submitted", conv,
                read_only=True),
        _datetime("first_conversion_date", "First Conversion Date", conv, read_only=True),
        _text("first_conversion_event_name", "First Conversion", conv, read_only=True),
        _datetime("recent_conversion_date", "Recent Conversion Date", conv, read_only=True),
        _text("recent_conversion_event_name", "Recent Conversion", conv, read_only=True),
    ]


def company_properties() -> list[Property]:
    info = "companyinformation"
    return [
        *_record_basics("companies", info),
        _text("name", "Company name", info),
        _text("domain", "Company Domain Name", info, has_unique_value=True),
        _select("industry", "Industry", info, options(INDUSTRIES)),
        _number("numberofemployees", "Number of Employees", info),
        _number("annualrevenue", "Annual Revenue", info),
        _text("country", "Country/Region", info),
        _bool("hs_is_target_account", "Target Account", info),
        _select("hs_ideal_customer_profile", "Ideal Customer Profile Tier", info,
                options([("tier_1", "Tier 1"), ("tier_2", "Tier 2"), ("tier_3", "Tier 3")])),
        _merge_ids(info),
        *_lifecycle(info),
    ]


def engagement_properties(object_type: str) -> list[Property]:
    group = {"calls": "call", "emails": "email", "meetings": "meeting",
             "notes": "note", "tasks": "task", "communications": "communication",
             "postal_mail": "postal_mail"}[object_type]
    common = [*_record_basics(object_type, group),
              _datetime("hs_timestamp", "Activity date", group),
              _owner(group, "Activity assigned to")]
    specific = {
        "calls": [
            _select("hs_call_direction", "Call direction", group,
                    options(["INBOUND", "OUTBOUND"])),
            _number("hs_call_duration", "Call duration (ms)", group),
            _select("hs_call_status", "Call status", group, options(
                ["BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED",
                 "IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING"])),
            _select("hs_call_disposition", "Call outcome", group, options(CALL_DISPOSITIONS)),
            _text("hs_call_title", "Call title", group),
        ],
        "emails": [
            _select("hs_email_direction", "Email direction", group,
                    options(["EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"])),
            _select("hs_email_status", "Email send status", group,
                    options(["BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"])),
            _text("hs_email_subject", "Email subject", group),
        ],
        "meetings": [
            _text("hs_meeting_title", "Meeting name", group),
            _select("hs_meeting_outcome", "Meeting outcome", group, options(
                ["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"])),
            _datetime("hs_meeting_start_time", "Start time", group),
            _datetime("hs_meeting_end_time", "End time", group),
        ],
        "notes": [Property("hs_note_body", "Note body", "string", "html", group)],
        "communications": [
            _select("hs_communication_channel_type", "Channel type", group,
                    options(["SMS", "WHATS_APP", "LINKEDIN_MESSAGE"])),
            _text("hs_communication_logged_from", "Logged from", group),
            Property("hs_communication_body", "Body", "string", "html", group),
        ],
        "postal_mail": [Property("hs_postal_mail_body", "Body", "string", "html", group)],
        "tasks": [
            _text("hs_task_subject", "Task title", group),
            _select("hs_task_status", "Task status", group, options(
                ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"])),
            _select("hs_task_type", "Task type", group,
                    options(["EMAIL", "CALL", "TODO", "LINKED_IN"])),
            _select("hs_task_priority", "Priority", group,
                    options(["NONE", "LOW", "MEDIUM", "HIGH"])),
        ],
    }[object_type]
    return common + specific


def default_groups(object_type: str) -> list[PropertyGroup]:
    names = {
        "contacts": [("contactinformation", "Contact information"),
                     ("emailinformation", "Email information"),
                     ("analyticsinformation", "Web analytics history"),
                     ("conversioninformation", "Conversion information"),
                     ("sales_properties", "Sales properties")],
        "companies": [("companyinformation", "Company information")],
        "postal_mail": [("postal_mail", "Postal mail information")],
    }.get(object_type) or [(object_type[:-1], f"{object_type[:-1].capitalize()} information")]
    return [PropertyGroup(name, label, i) for i, (name, label) in enumerate(names)]


class PropertyCatalog:
    """The properties and groups of one object type; custom ones can be added at runtime."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        built = {"contacts": contact_properties, "companies": company_properties}.get(
            object_type, lambda: engagement_properties(object_type))()
        self.properties: dict[str, Property] = {p.name: p for p in built}
        self.groups: dict[str, PropertyGroup] = {g.name: g for g in
                                                 default_groups(object_type)}

    def get(self, name: str) -> Property | None:
        return self.properties.get(name)

    def add(self, prop: Property) -> None:
        self.properties[prop.name] = prop

    def replace(self, name: str, **changes: Any) -> Property:
        updated = replace(self.properties[name], **changes)
        self.properties[name] = updated
        return updated

    def ladder(self) -> list[str]:
        """Lifecycle stage values in forward order (from the live options, which admins edit)."""
        stage = self.properties.get("lifecyclestage")
        if stage is None:
            return []
        ordered = sorted(stage.options, key=lambda o: o.display_order)
        return [o.value for o in ordered if o.value != "other"]
