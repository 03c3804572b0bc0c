"""The company part of `leadsync backtest`: the cache's companies as of the past date, scored
by the company model with the contact backtest's engagement of then (scoring/company_backtest.py).

Companies and members are read by the rescore's reader (cache/company_reader.py) as of the
past instant (members' last activity at or before it), with the dates the as-of rule and the
conversion definition need; the rolled-up engagement is the contact backtest's own score as
of then, never a stored (today's) one.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterator

from cache.company_reader import CompanyReader
from cache.database import Cache
from scoring.backtest import Backtest
from scoring.company_backtest import CompanyBacktest, company_backtest
from scoring.company_model import CompanyModel
from scoring.engine import epoch
from scoring.outcomes import Outcome


def backtest_companies(cache: Cache, model: CompanyModel, contacts: Backtest, as_of: datetime,
                       horizon_days: int, *, conversion: Outcome, contact_properties: tuple,
                       company_properties: tuple, engagement_model: str) -> CompanyBacktest:
    """Every live cached company scored as known at `as_of`; `contacts`: the contact backtest
    run with `engagement_of` the model in charge (its `engagement` is rolled up)."""
    reader = CompanyReader(cache, model, epoch(as_of),
                           contacts=contact_properties + conversion.properties,
                           companies=company_properties)

    def rows() -> Iterator[tuple]:
        for batch in reader.companies():
            for company_id, properties, members, _stored in batch:
                yield company_id, properties, members

    return company_backtest(rows(), model, as_of, horizon_days, engagement=contacts.engagement,
                            engagement_model=engagement_model, conversion=conversion)
