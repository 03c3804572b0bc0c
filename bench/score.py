"""Benchmark: rescore a generated cache and compare with a bare read of the same rows.

    .venv/bin/python bench/score.py                    # 1,000,000 contacts, 10 engagements each
    .venv/bin/python bench/score.py --contacts 100000  # smaller

Generates the cache directly in SQLite (recursive CTEs, deterministic pseudo-random values shaped
like the sandbox's; `contact_events` filled as its migration backfills a cache), then in one
process prints: the time a bare Python loop takes to read the rows a rescore reads from (live
contacts, all their `contact_events` rows, their primary company), taken before and after
each run because this machine's speed drifts; the first full rescore (every
contact new: scores and history written), a repeat rescore with the same as-of (nothing
changes, nothing written), the next day's rescore (decay moves whoever engaged recently: the
daily cron case), contacts per second, the ratio to the mean of the bare reads around the
run, the time the rescore's own queries take with nothing done to their rows, and peak memory
(ru_maxrss).

Then several models (issue 14), in the same run: a full rescore (every score new) and the
next day's with one model, next to the same with three contact models read in one pass (two
segments by country, and a shadow challenger over every contact), plus the company model
(companies scored after the contacts from the engagement of the model in charge, as a sync
does), against the bound of 2× one model's time: alternating rounds, wall and CPU time,
medians with the range of the per-round ratios.
"""
from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.company_rescore import rescore_companies  # noqa: E402
from analysis.rescore import rescore  # noqa: E402
from cache.contact_reader import CHUNK, ContactReader  # noqa: E402
from cache.database import _statements, migrate, open_cache  # noqa: E402
from cache.schema import MIGRATIONS  # noqa: E402
from scoring import Model, load, loads  # noqa: E402
from scoring.batch import batch_scorer  # noqa: E402
from scoring.company_model import CompanyModel, load_company_model  # noqa: E402
from scoring.members import MemberMarks  # noqa: E402
from scoring.models import ContactModel, ModelSet, segment  # noqa: E402

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
EVENTS_PER_CONTACT = 10
# Per contact: 3 emails, 2 calls, 2 notes, 2 tasks, 1 meeting.
PATTERN = ("emails", "emails", "emails", "calls", "calls", "notes", "notes", "tasks", "tasks",
           "meetings")
TYPE_IDS = {"calls": 193, "emails": 197, "meetings": 199, "notes": 201, "tasks": 203}
SPREAD = 7919  # a prime coprime with 10 * contacts: scatters engagement ids like a real portal


def _json_list(values: list[str]) -> str:
    return "'[" + ",".join(f'"{v}"' for v in values) + "]'"


def _pick(values: list[str], hash_sql: str) -> str:
    return f"json_extract({_json_list(values)}, '$[' || (({hash_sql}) % {len(values)}) || ']')"


def _hash(column: str, salt: int) -> str:
    return f"((({column} + {salt}) * 2654435761 % 4294967291) * 1103515245 % 4294967291)"


def _iso(seconds_sql: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {seconds_sql}, 'unixepoch')"


TITLES = ["CEO", "Founder & CEO", "Chief Revenue Officer", "CTO", "VP Sales", "VP of Marketing",
          "Director of Sales", "Head of Growth", "Director of IT", "Sales Manager",
          "Marketing Manager", "Engineering Manager", "Account Executive", "Software Engineer",
          "Financial Analyst", "RevOps Analyst", "Operations Coordinator", "Recruiter",
          "Student", "MBA Student", "Intern", "Consultant", "Freelancer", "Product Analyst"]
INDUSTRIES = ["COMPUTER_SOFTWARE", "INFORMATION_TECHNOLOGY_AND_SERVICES", "INTERNET",
              "FINANCIAL_SERVICES", "MARKETING_AND_ADVERTISING", "HOSPITAL_HEALTH_CARE", "RETAIL",
              "HIGHER_EDUCATION", "MANAGEMENT_CONSULTING", "NON_PROFIT_ORGANIZATION_MANAGEMENT"]
RANGES = ["1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000-5000", "5000-10000",
          "10000+"]
COUNTRIES = ["United States", "United Kingdom", "Germany", "France", "Canada", "India"]
SOURCES = ["ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
           "DIRECT_TRAFFIC"]
STAGES = ["subscriber"] * 6 + ["lead"] * 9 + ["marketingqualifiedlead"] * 2 + [
    "salesqualifiedlead", "opportunity", "customer"]
CONVERSIONS = ["Demo request", "Ebook download: RevOps playbook", "Webinar registration",
               "Newsletter signup", "Pricing page contact form", "Free trial signup"]
FREE = ["gmail.com", "yahoo.com", "outlook.com"]


def generate(path: str, contacts: int) -> None:
    """Write a cache with `contacts` contacts, 10 engagements each, one company per 10 contacts."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    conn.execute("DROP INDEX associations_to")  # rebuilt once at the end: much faster
    # contact_events is filled at the end exactly as its migration backfills an existing
    # cache, then its triggers are put back: per-row triggers would need the dropped index.
    backfill, triggers = _contact_events_steps()
    for trigger in triggers:
        conn.execute(f"DROP TRIGGER {trigger.split()[5]}")
    companies = max(1, contacts // 10)
    now = int(AS_OF.timestamp())
    year = 365 * 86400
    conn.execute("BEGIN")
    conn.execute(f"""
        WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < {companies})
        INSERT INTO companies (id, domain, properties)
        SELECT 200000000 + i, 'co' || i || '.example.com', json_object(
            'name', 'Company ' || i, 'domain', 'co' || i || '.example.com',
            'industry', {_pick(INDUSTRIES, _hash('i', 1))},
            'numberofemployees', CAST({_hash('i', 2)} % 20000 AS TEXT),
            'annualrevenue', CAST({_hash('i', 3)} % 500000000 AS TEXT),
            'country', {_pick(COUNTRIES, _hash('i', 4))},
            'hs_is_target_account', CASE WHEN {_hash('i', 5)} % 10 = 0 THEN 'true' ELSE 'false' END,
            'hs_ideal_customer_profile', {_pick(['tier_1', 'tier_2', 'tier_3'], _hash('i', 6))},
            'hs_object_id', CAST(200000000 + i AS TEXT))
        FROM k""")
    conn.execute(f"""
        WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < {contacts}),
        v AS (SELECT i, {_hash('i', 11)} % 4 AS conversions, {_hash('i', 12)} % 7 = 0 AS free,
                     200000000 + (i * 7) % {companies} AS company,
                     {_iso(f"{now} - 30 * 86400 - {_hash('i', 13)} % (2 * {year})")} AS created
              FROM c),
        w AS (SELECT *, 'p' || i || '@' || CASE WHEN free THEN {_pick(FREE, 'i')}
                        ELSE 'co' || (company - 200000000) || '.example.com' END AS email FROM v)
        INSERT INTO contacts (id, email, properties, created_at, updated_at)
        SELECT 100000000 + i, email, json_object(
            'email', email, 'firstname', 'First' || i, 'lastname', 'Last' || i,
            'jobtitle', {_pick(TITLES, _hash('i', 14))},
            'company', 'Company ' || (company - 200000000),
            'industry', 'Software', 'country', {_pick(COUNTRIES, _hash('i', 15))},
            'numemployees', {_pick(RANGES, _hash('i', 16))},
            'annualrevenue', CAST({_hash('i', 17)} % 100000000 AS TEXT),
            'hs_analytics_source', {_pick(SOURCES, _hash('i', 18))},
            'hs_email_open', CAST({_hash('i', 19)} % 30 AS TEXT),
            'hs_email_click', CAST({_hash('i', 20)} % 8 AS TEXT),
            'hs_email_replied', CAST({_hash('i', 21)} % 3 AS TEXT),
            'hs_email_bounce', CAST({_hash('i', 22)} % 40 = 0 AS TEXT),
            'hs_email_optout', CASE WHEN {_hash('i', 23)} % 20 = 0 THEN 'true' ELSE 'false' END,
            'hs_analytics_num_page_views', CAST({_hash('i', 24)} % 60 AS TEXT),
            'hs_analytics_num_visits', CAST({_hash('i', 25)} % 20 AS TEXT),
            'num_conversion_events', CAST(conversions AS TEXT),
            'recent_conversion_date', CASE WHEN conversions > 0 THEN
                {_iso(f"{now} - {_hash('i', 26)} % (180 * 86400)")} END,
            'recent_conversion_event_name', CASE WHEN conversions > 0 THEN
                {_pick(CONVERSIONS, _hash('i', 27))} END,
            'first_conversion_date', CASE WHEN conversions > 0 THEN created END,
            'lifecyclestage', {_pick(STAGES, _hash('i', 28))},
            'hs_lead_status', 'NEW', 'createdate', created, 'lastmodifieddate', created,
            'hs_v2_date_entered_lead', created,
            'associatedcompanyid', CAST(company AS TEXT),
            'hs_object_id', CAST(100000000 + i AS TEXT)), created, created
        FROM w""")
    conn.execute("""
        INSERT INTO associations
        SELECT 'contacts', id, 'companies', json_extract(properties, '$.associatedcompanyid'), t
        FROM contacts, (SELECT 1 AS t UNION ALL SELECT 279)""")
    total = contacts * EVENTS_PER_CONTACT
    kinds = "json_extract('" + str(list(PATTERN)).replace("'", '"') + "', '$[' || (i % 10) || ']')"
    conn.execute(f"""
        WITH RECURSIVE e(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM e WHERE i + 1 < {total})
        INSERT INTO associations
        SELECT 'contacts', CAST(100000000 + i / 10 AS TEXT), {kinds},
               CAST(300000000 + (i * {SPREAD}) % {total} AS TEXT),
               CASE i % 10 WHEN 3 THEN 193 WHEN 4 THEN 193 WHEN 5 THEN 201 WHEN 6 THEN 201
                           WHEN 7 THEN 203 WHEN 8 THEN 203 WHEN 9 THEN 199 ELSE 197 END
        FROM e""")
    inverse = pow(SPREAD, -1, total)
    conn.execute(f"""
        WITH RECURSIVE p(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM p WHERE n + 1 < {total}),
        q AS (SELECT n, (n * {inverse}) % {total} AS i FROM p),
        r AS (SELECT n, i, {kinds} AS kind,
                     {_iso(f"{now} - {_hash('i', 31)} % {year}")} AS at FROM q)
        INSERT INTO engagements (type, id, occurred_at, properties, created_at, updated_at)
        SELECT kind, CAST(300000000 + n AS TEXT), at, CASE kind
          WHEN 'calls' THEN json_object('hs_timestamp', at, 'hs_createdate', at,
              'hs_lastmodifieddate', at, 'hs_object_id', CAST(300000000 + n AS TEXT),
              'hs_call_direction', {_pick(['INBOUND', 'OUTBOUND', 'OUTBOUND'], _hash('i', 32))},
              'hs_call_duration', CAST({_hash('i', 33)} % 900000 AS TEXT),
              'hs_call_status', {_pick(['COMPLETED', 'COMPLETED', 'NO_ANSWER', 'BUSY'], _hash('i', 34))},
              'hs_call_title', 'Call')
          WHEN 'emails' THEN json_object('hs_timestamp', at, 'hs_createdate', at,
              'hs_lastmodifieddate', at, 'hs_object_id', CAST(300000000 + n AS TEXT),
              'hs_email_direction', {_pick(['EMAIL', 'EMAIL', 'INCOMING_EMAIL'], _hash('i', 35))},
              'hs_email_status', 'SENT', 'hs_email_subject', 'Following up')
          WHEN 'meetings' THEN json_object('hs_timestamp', at, 'hs_createdate', at,
              'hs_lastmodifieddate', at, 'hs_object_id', CAST(300000000 + n AS TEXT),
              'hs_meeting_outcome', {_pick(['SCHEDULED', 'COMPLETED', 'NO_SHOW', 'CANCELED'], _hash('i', 36))},
              'hs_meeting_start_time', at, 'hs_meeting_end_time', at, 'hs_meeting_title', 'Product demo')
          WHEN 'notes' THEN json_object('hs_timestamp', at, 'hs_createdate', at,
              'hs_lastmodifieddate', at, 'hs_object_id', CAST(300000000 + n AS TEXT),
              'hs_note_body', '<p>Spoke with contact ' || (i / 10) || ' about lead scoring.</p>')
          ELSE json_object('hs_timestamp', at, 'hs_createdate', at,
              'hs_lastmodifieddate', at, 'hs_object_id', CAST(300000000 + n AS TEXT),
              'hs_task_status', {_pick(['COMPLETED', 'NOT_STARTED'], _hash('i', 37))},
              'hs_task_type', 'CALL', 'hs_task_priority', 'MEDIUM', 'hs_task_subject', 'Follow up')
          END, at, at
        FROM r""")
    conn.execute("CREATE INDEX associations_to ON associations(to_type, to_id)")
    for statement in (*backfill, *triggers):
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()


def _contact_events_steps() -> tuple[list[str], list[str]]:
    """The contact_events migration's backfill and trigger statements, verbatim."""
    statements = _statements(dict(MIGRATIONS)["0009_contact_events"])
    return ([s for s in statements if s.startswith("INSERT")],
            [s for s in statements if s.startswith("CREATE TRIGGER")])


def bare_read(path: str) -> tuple[float, int]:
    """Seconds a plain loop takes to read the rows a rescore needs; and how many rows."""
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    rows = 0
    for _ in conn.execute("SELECT id, properties FROM contacts WHERE archived = 0 "
                          "AND merged_into IS NULL ORDER BY id"):
        rows += 1
    for _ in conn.execute("SELECT contact_id, kind, engagement_id, occurred_at, properties "
                          "FROM contact_events ORDER BY contact_id"):
        rows += 1
    for _ in conn.execute("SELECT a.from_id, co.properties FROM associations a JOIN companies co "
                          "ON co.id = a.to_id WHERE a.from_type = 'contacts' "
                          "AND a.to_type = 'companies' AND a.type_id = 1 ORDER BY a.from_id"):
        rows += 1
    seconds = time.perf_counter() - started
    conn.close()
    return seconds, rows


def timed_read(path: str, contacts: int) -> tuple[float, str]:
    """bare_read's seconds, and the line that reports it."""
    cpu = time.process_time()
    seconds, rows = bare_read(path)
    return seconds, (f"bare read:         {seconds:6.2f} s  {contacts / seconds:10,.0f} contacts/s "
                     f"(cpu {time.process_time() - cpu:.1f} s; {rows:,} rows: contacts, their "
                     f"contact_events, their primary companies)")


def own_queries(cache, model, as_of: datetime) -> float:
    """Seconds the rescore's own queries take with nothing done to their rows."""
    reader = ContactReader(cache, model, batch_scorer(model, as_of).now)
    started = time.perf_counter()
    for _ in reader.fetched(None, CHUNK, windowed=True):
        pass
    return time.perf_counter() - started


def warm(path: str) -> None:
    """Read the cache file once, so that no run pays for the disk and the bare read, which
    comes first, is not the one that does."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def several_models(model: Model, company: CompanyModel | None = None) -> ModelSet:
    """Three contact models as a config would hold them: two segments by country (the second
    with a higher MQL bar) and a shadow challenger scoring everyone (a lower bar); and the
    company model, rolling up the engagement of the model in charge."""
    def variant(name: str, bar: int) -> Model:
        text = model.text.replace("score = { gte = 55 }", f"score = {{ gte = {bar} }}")
        return loads(text.replace(f'name = "{model.name}"', f'name = "{name}"'),
                     source=f"<{name}>")

    def segmented(name: str, chosen: Model, countries: list[str]) -> ContactModel:
        spec = {"country": {"in": countries}}
        return ContactModel(name, chosen, segment(spec, chosen, source="bench",
                                                  where=f"{name}.applies_to"))

    europe = segmented("europe", model, COUNTRIES[1:4])
    contacts = (ContactModel("europe", model, europe.segment, drives_stages=True),
                segmented("americas", variant("americas", 65), [COUNTRIES[0], COUNTRIES[4]]),
                ContactModel("challenger", variant("challenger", 45), shadow=True))
    return ModelSet(contacts, company)


def compare_several(cache, model: Model, company: CompanyModel | None, rounds: int = 3) -> None:
    """One model, and three plus the company model (contacts, then companies, as a sync
    scores them), each a full rescore then the next day's, alternating for `rounds` rounds:
    this machine is shared, so each round's ratio compares runs taken minutes apart at most,
    and the process CPU time (less moved by other processes than the wall clock) is shown
    beside the wall time."""
    several = several_models(model, company)
    label_several = "three models + company" if company is not None else "three models"
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(1, rounds + 1):
        for label, chosen in (("one model", ModelSet.single(model)), (label_several, several)):
            for table in ("scores", "score_history", "company_scores", "company_score_history"):
                cache.conn.execute(f"DELETE FROM {table}")
            cache.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for when, as_of in (("full", AS_OF), ("next-day", AS_OF + timedelta(days=1))):
                cpu = time.process_time()
                # as a sync does: the contacts' pass gathers the company model's members
                marks = MemberMarks(chosen.company, as_of) if chosen.company is not None else None
                summary = rescore(cache, chosen, as_of, members=marks)
                seconds, companies = summary.seconds, ""
                if chosen.company is not None:
                    scored = rescore_companies(cache, chosen.company, as_of,
                                               engagement_model=chosen.engagement_source.name,
                                               marks=marks)
                    seconds += scored.seconds
                    companies = (f"; {scored.scored:,} companies in {scored.seconds:.2f} s, "
                                 f"{scored.changed:,} changed")
                used = time.process_time() - cpu
                times.setdefault((label, when), []).append((seconds, used))
                models = ", ".join(f"{m['name']} {m['in_segment']:,}" for m in summary.models)
                print(f"round {round_} {label + ' ' + when + ':':32} {seconds:6.2f} s, cpu "
                      f"{used:6.2f} s  ({summary.updated:,} score rows written; scored: "
                      f"{models}{companies})", flush=True)
    for when in ("full", "next-day"):
        one, more = times[("one model", when)], times[(label_several, when)]
        for i, clock in enumerate(("wall", "cpu")):
            ratios = sorted(m[i] / o[i] for o, m in zip(one, more))
            ratio = statistics.median(m[i] for m in more) / statistics.median(o[i] for o in one)
            print(f"{label_several} / one, {when + ',':9} {clock + ':':5} {ratio:.2f}x "
                  f"(medians of {rounds}; per round {ratios[0]:.2f}-{ratios[-1]:.2f}x; bound "
                  f"2.00x: {'within' if ratio <= 2 else 'OVER'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--db", default="bench-score.db")
    parser.add_argument("--model", default=None, help="model file [default: the starter]")
    parser.add_argument("--reuse", action="store_true", help="reuse an existing --db as is")
    parser.add_argument("--only-models", action="store_true",
                        help="skip the one-model runs above; only one model vs three")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of one model vs three + company [default: 3]")
    parser.add_argument("--company-model", default=os.path.join(
        os.path.dirname(__file__), "..", "tests", "fixtures", "company_model.toml"),
        help="company model timed after the contacts, and in the several-models set "
             "[default: the tests' fixture]")
    args = parser.parse_args()
    model = load(args.model)
    if not (args.reuse and os.path.exists(args.db)):
        started = time.perf_counter()
        generate(args.db, args.contacts)
        print(f"generated {args.contacts:,} contacts, {args.contacts * EVENTS_PER_CONTACT:,} "
              f"engagements in {time.perf_counter() - started:.1f} s "
              f"({os.path.getsize(args.db) / 2**30:.2f} GiB)")
    cache = open_cache(args.db)
    cache.conn.execute("DELETE FROM scores")
    cache.conn.execute("DELETE FROM score_history")
    cache.conn.execute("DELETE FROM company_scores")
    cache.conn.execute("DELETE FROM company_score_history")
    cache.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every run starts from the same state
    warm(args.db)
    contacts = cache.conn.execute("SELECT count(*) FROM contacts").fetchone()[0]
    # This machine's speed drifts by tens of percent over minutes, so bare reads bracket every
    # rescore and each is compared with the mean of the two reads around it.
    company_model = load_company_model(args.company_model) if args.company_model else None
    if args.only_models:
        compare_several(cache, model, company_model, args.rounds)
        cache.close()
        return
    before, line = timed_read(args.db, contacts)
    print(line)
    for label, as_of in (("first rescore:", AS_OF), ("repeat rescore:", AS_OF),
                         ("next-day rescore:", AS_OF + timedelta(days=1))):
        cpu = time.process_time()
        summary = rescore(cache, model, as_of)
        used = time.process_time() - cpu
        after, line = timed_read(args.db, contacts)
        rate = summary.scored / summary.seconds
        print(f"{label:18} {summary.seconds:6.2f} s  {rate:10,.0f} contacts/s "
              f"({summary.seconds / ((before + after) / 2):.2f}x the bare reads before and after "
              f"it; cpu {used:.1f} s = {summary.scored / used:,.0f} contacts per cpu-second; "
              f"{summary.changed:,} changed, {summary.updated:,} score rows written)")
        print(line)
        before = after
        if label == "first rescore:":
            one_model = summary.seconds
    for label in ("company rescore:", "company repeat:") if company_model else ():
        companies = rescore_companies(cache, company_model, AS_OF)
        print(f"{label:18} {companies.seconds:6.2f} s  {companies.scored:,} companies, each "
              f"reading its members from the cache ({companies.changed:,} changed): the "
              f"per-company path (webhooks, explain), here for all; a full run gathers the "
              f"members in its contacts' pass instead (below). One-model contact rescore + "
              f"this = {(one_model + companies.seconds) / one_model:.2f}x the rescore alone")
    seconds = own_queries(cache, model, AS_OF + timedelta(days=1))
    print(f"its own queries:   {seconds:6.2f} s  {contacts / seconds:10,.0f} contacts/s (the "
          f"rescore's SQL alone, rows fetched and dropped: what scoring, comparing and writing "
          f"add to)")
    print(f"peak memory:     {peak_mb():7.0f} MB (ru_maxrss, whole process)")
    print(f"model {model.label}; grades {summary.grades}")
    compare_several(cache, model, company_model, args.rounds)
    cache.close()


if __name__ == "__main__":
    main()
