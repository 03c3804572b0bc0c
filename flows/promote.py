"""`leadsync promote NAME`: the challenger becomes the champion, after a `simulate` plan.

The plan is what the next push would send once the config says so, computed from the
scores already in the cache (a shadow model is scored on every run): the new champion's
lifecycle stages, and the properties of the models whose roles change. Nothing is written
to HubSpot here; the next `sync` (or `push`) does it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.compare import Comparison, compare, pick
from analysis.rescore import load_models
from cache.database import open_cache
from cache.write_plan import plan_push
from flows.sync import stage_policy, write_targets
from foundation.errors import ConfigError
from foundation.promotion import Promotion, promotion
from foundation.settings import load
from mappings.writeback import Plan


@dataclass
class PromotionPlan:
    """What promoting a model would change: the config's keys, and the next push."""

    promotion: Promotion
    comparison: Comparison | None
    plan: Plan

    def as_dict(self) -> dict[str, Any]:
        return {"config": str(self.promotion.path), "changes": list(self.promotion.changes),
                "comparison": self.comparison.as_dict() if self.comparison else None,
                "plan": self.plan.as_dict(sample=20)}

    def render(self) -> str:
        lines = [f"Promote in {self.promotion.path}:"]
        lines += [f"  {change}" for change in self.promotion.changes]
        if self.comparison is not None:
            lines.append(self.comparison.render())
        lines.append("The next push would then send (simulated from the cached scores):")
        lines.append(self.plan.render())
        return "\n".join(lines)


def plan_promotion(db_path: str, config_path: str | None, name: str) -> PromotionPlan:
    """The promotion of model `name` in the config at `config_path`, and its push plan."""
    if config_path is None:
        raise ConfigError("promote edits leadsync.toml: pass --config or run it where "
                          "leadsync.toml is")
    promoted = promotion(config_path, name)
    if not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync sync` first so the plan "
                          f"can be simulated (or pass --db)")
    cache = open_cache(db_path)
    try:
        with cache.snapshot():
            after = load_models(promoted.settings, cache)
            comparison = None
            champion = next((m for m in load_models(load(config_path), cache).contacts
                             if m.drives_stages), None)
            if champion is not None:
                first, second = pick(after, champion.name, name)
                comparison = compare(cache, first, second, movers=5)
            plan, _ = plan_push(cache, write_targets(promoted.settings, after),
                                stage_policy(cache, promoted.settings, after))
    finally:
        cache.close()
    return PromotionPlan(promoted, comparison, plan)
