"""What a person browsing the cache in Datasette sees: descriptions, hidden internals, queries.

`metadata` is Datasette's metadata document for one cache file: the two views of migration
`0012_browse_views` first (a RevOps analyst can facet on them), the record tables described
column by column, the working tables (outbox, ledger, queues, migrations) hidden, and canned
queries for the questions asked most. docs/cache.md documents the same tables.
"""
from __future__ import annotations

from typing import Any

VIEWS: dict[str, dict[str, Any]] = {
    "contacts_view": {
        "description": "One row per live contact (archived and merged-away left out) and model "
                       "scoring it, with its current leadsync score. Facet by scored_by (the "
                       "model), source, stage, grade or inactive.",
        "columns": {
            "contact_id": "HubSpot contact id (as a number, so it sorts 1, 2, 10)",
            "email": "Email address",
            "name": "First and last name",
            "job_title": "Job title",
            "company": "Primary company's name (else the contact's company property)",
            "source": "Original source (hs_analytics_source), e.g. ORGANIC_SEARCH",
            "stage": "Lifecycle stage in HubSpot, as last pulled",
            "scored_stage": "Lifecycle stage the model gives (push writes it forward only)",
            "score": "Total score = fit + engagement (decayed), after bounds",
            "fit": "Fit points: who they are (never decays)",
            "engagement": "Engagement points: what they did, decayed by age",
            "grade": "A1-C3: fit letter (A best) and engagement number (1 most engaged)",
            "inactive": "yes when the last engagement is older than the model's limit",
            "model": "Model name and version that scored it",
            "scored_by": "The config's model ([[models]] name; default with one model)",
            "scored_at": "When the score was last stored",
            "created": "When the contact was created in HubSpot",
        },
        "facets": ["scored_by", "source", "stage", "grade", "inactive"],
        "sort_desc": "score",
    },
    "score_changes_view": {
        "description": "The audit trail: every time a contact's total, grade or stage changed, "
                       "with its email and the reasons in words. Facet by trigger or new stage.",
        "columns": {
            "change_id": "Row id of the change in score_history",
            "contact_id": "HubSpot contact id (as a number)",
            "email": "Email address (empty if the contact is no longer cached)",
            "changed_at": "When leadsync stored the change",
            "as_of": "The instant the score was computed for",
            "old_total": "Score before (empty: first score)",
            "new_total": "Score after",
            "change": "new_total - old_total",
            "old_grade": "Grade before",
            "new_grade": "Grade after",
            "old_stage": "Model's stage before",
            "new_stage": "Model's stage after",
            "reasons": "The rules behind the new score, heaviest first",
            "model": "Model name and version",
            "scored_by": "The config's model ([[models]] name; default with one model)",
            "trigger": "What rescored it: score, sync or webhook",
            "pushed_at": "When the change reached HubSpot (empty: not yet)",
        },
        "facets": ["trigger", "new_stage", "new_grade"],
        "sort_desc": "change_id",
    },
}

TABLES: dict[str, str] = {
    "contacts": "Contacts as pulled from HubSpot: `properties` is the JSON of their properties "
                "(contacts_view spreads out the useful ones).",
    "companies": "Companies as pulled from HubSpot.",
    "engagements": "Calls, emails, meetings, notes and tasks as pulled from HubSpot.",
    "scores": "The current score of every scored contact (reasons as JSON arrays "
              "[rule, section, points, occurrences]).",
    "score_history": "Every change of total, grade or stage (score_changes_view reads better).",
    "runs": "Every leadsync command run: outcome, API calls, records, details.",
    "backtests": "Saved backtest results (`leadsync report --backtest ID` charts one).",
}

# Working state a person browsing has no use for; still reachable under "hidden tables".
HIDDEN = ("_migrations", "outbox", "pushed", "inbox", "association_queue", "associations",
          "contact_events", "property_catalog", "sync_state")

QUERIES: dict[str, dict[str, str]] = {
    "mqls_this_week": {
        "title": "MQLs this week",
        "description": "Contacts the model moved to MQL in the last 7 days, newest first.",
        "sql": "SELECT contact_id, email, changed_at, old_stage, new_stage, new_total, reasons, "
               "pushed_at FROM score_changes_view WHERE new_stage = 'marketingqualifiedlead' "
               "AND COALESCE(old_stage, '') != new_stage "
               "AND changed_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days') "
               "ORDER BY changed_at DESC",
    },
    "biggest_score_drops": {
        "title": "Biggest score drops",
        "description": "The largest falls in total score over the last 30 days.",
        "sql": "SELECT contact_id, email, changed_at, old_total, new_total, change, reasons, "
               "trigger FROM score_changes_view WHERE change < 0 "
               "AND changed_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days') "
               "ORDER BY change, changed_at DESC LIMIT 100",
    },
    "leads_to_call": {
        "title": "Leads to call",
        "description": "Active contacts not yet an opportunity or customer, best score first.",
        "sql": "SELECT contact_id, email, name, company, source, score, grade, scored_stage, "
               "scored_by FROM contacts_view WHERE inactive = 'no' "
               "AND COALESCE(stage, '') NOT IN ('opportunity', 'customer', 'evangelist') "
               "AND COALESCE(scored_stage, '') NOT IN ('opportunity', 'customer', 'evangelist') "
               "ORDER BY score DESC, engagement DESC LIMIT 100",
    },
}


def metadata(database: str) -> dict[str, Any]:
    """Datasette's metadata for the cache opened as `database` (the file's stem)."""
    tables: dict[str, Any] = {name: dict(spec) for name, spec in VIEWS.items()}
    tables.update({name: {"description": text} for name, text in TABLES.items()})
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "leadsync cache",
        "description": "Contacts, scores and their history as leadsync keeps them. Start with "
                       "contacts_view and score_changes_view, or a query below.",
        "databases": {database: {"tables": tables, "queries": QUERIES}},
    }
