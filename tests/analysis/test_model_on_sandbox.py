"""The starter model on the sandbox's seeded portal: valid there, and it ranks leads well."""
from __future__ import annotations

import statistics
from datetime import datetime, timezone
from pathlib import Path

import pytest
from score_cache import cache_from_portal

from analysis.rescore import load_model, rescore
from cache.database import open_cache

portal_module = pytest.importorskip("sandbox.portal")
seed_module = pytest.importorskip("sandbox.seed")
catalog_module = pytest.importorskip("sandbox.catalog")

ANCHOR = datetime(2026, 11, 22, tzinfo=timezone.utc)


def ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0] * len(values)
    for rank, index in enumerate(order):
        result[index] = rank
    return result


def test_starter_scores_rank_the_hidden_propensity(tmp_path: Path) -> None:
    portal = portal_module.Portal()
    seed_module.seed_portal(portal, contacts=600, seed=7, anchor_ms=int(ANCHOR.timestamp() * 1000))
    cache = open_cache(tmp_path / "leadsync.db")
    cache_from_portal(cache, portal)
    rows = [(object_type, p.name, p.type, p.field_type) for object_type in catalog_module.OBJECT_TYPES
            for p in catalog_module.PropertyCatalog(object_type).properties.values()]
    cache.conn.executemany("INSERT INTO property_catalog (object_type, name, type, field_type) "
                           "VALUES (?, ?, ?, ?)", rows)
    model = load_model(None, cache)  # strict: every name checked against the portal's catalog
    summary = rescore(cache, model, ANCHOR)
    scored = cache.conn.execute("SELECT contact_id, total FROM scores").fetchall()
    pairs = sorted((total, portal.propensity[int(cid)]) for cid, total in scored
                   if int(cid) in portal.propensity)
    tenth = len(pairs) // 10
    bottom = statistics.mean(p for _, p in pairs[:tenth])
    top = statistics.mean(p for _, p in pairs[-tenth:])
    rho = statistics.correlation(ranks([t for t, _ in pairs]), ranks([p for _, p in pairs]))
    assert summary.scored > 500
    assert rho > 0.75, rho
    assert top > 5 * bottom, (top, bottom)
    cache.close()
