"""The company model in the model set: loaded with the contact models, rolling up the
engagement of the model in charge (never a shadow's), and the cycle checks across models."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from score_cache import add_company, add_contact, add_event

import scoring
from analysis.company_rescore import rescore_companies
from analysis.rescore import load_models, rescore
from cache.database import open_cache
from flows.company_flow import CompanyStep
from foundation import settings
from foundation.errors import ConfigError
from scoring.models import ContactModel, ModelSet

COMPANY_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "company_model.toml"
AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)


def config(tmp_path: Path, models: str) -> settings.Settings:
    path = tmp_path / "leadsync.toml"
    path.write_text(f'[scoring]\ncompany_model = "{COMPANY_MODEL}"\n{models}')
    return settings.load(path)


def test_load_models_puts_the_company_model_beside_the_contact_models(tmp_path):
    conf = config(tmp_path, '[[models]]\nname = "next"\nshadow = true\n'
                            '[[models]]\nname = "core"\n'
                            '[[models]]\nname = "eu"\ndrives_stages = true\n'
                            'applies_to = { country = "Germany" }\n')
    models = load_models(conf)
    assert models.names == ("next", "core", "eu")
    assert (models.company.name, models.company.version) == ("accounts", "2026-11-01")
    assert models.engagement_source.name == "eu"  # the stage driver
    without_driver = ModelSet(tuple(ContactModel(m.name, m.model, shadow=m.shadow)
                                    for m in models.contacts), models.company)
    assert without_driver.engagement_source.name == "core"  # the first not in shadow
    assert load_models(settings.load(None)).company is None
    step = CompanyStep.of(conf, models)
    assert step.model is models.company and not step.reads_score


def test_a_segment_reading_the_company_score_makes_its_contacts_rescored(tmp_path):
    conf = config(tmp_path, '[[models]]\nname = "core"\ndrives_stages = true\n'
                            '[[models]]\nname = "enterprise"\n'
                            'applies_to = { company.leadsync_company_score = { gte = 60 } }\n')
    models = load_models(conf)
    assert models.named("enterprise").segment.company_names == ("leadsync_company_score",)
    assert CompanyStep.of(conf, models).reads_score


def test_the_model_in_charge_may_not_segment_on_the_company_score(tmp_path):
    conf = config(tmp_path, '[[models]]\nname = "core"\ndrives_stages = true\n'
                            'applies_to = { company.leadsync_company_grade = "A1" }\n')
    with pytest.raises(ConfigError) as info:
        CompanyStep.of(conf, load_models(conf))
    assert str(info.value) == (
        "model 'core': applies_to reads company.leadsync_company_grade, but the company score "
        "is rolled up from this model's engagement (a cycle); read the company score in a fit "
        "rule or in [stages] instead")


def test_every_model_is_refused_an_engagement_rule_on_the_company_score(tmp_path):
    text = scoring.load(None).text + (
        '\n[[engagement.rules]]\nname = "Hot account"\n'
        'when = { company.leadsync_company_score = { gte = 60 } }\npoints = 5\n')
    assert "company.leadsync_company_score" in text
    (tmp_path / "shadow.toml").write_text(text)
    conf = config(tmp_path, '[[models]]\nname = "core"\ndrives_stages = true\n'
                            '[[models]]\nname = "next"\nshadow = true\npath = "shadow.toml"\n')
    with pytest.raises(ConfigError, match="engagement rule 'Hot account' reads "
                                          "company.leadsync_company_score"):
        CompanyStep.of(conf, load_models(conf))


def test_companies_roll_up_the_engagement_of_the_model_in_charge(tmp_path):
    """Two contacts of one company; a shadow model that doubles meeting points. The company's
    engagement is the champion's, once per contact (a row per model would count them twice)."""
    starter = scoring.load(None)
    doubled = scoring.loads(starter.text.replace("points = 15\ncount = \"each\"\ncap = 30",
                                                 "points = 30\ncount = \"each\"\ncap = 60"),
                            source="<doubled>")
    company = scoring.company_model.load_company_model(str(COMPANY_MODEL))
    models = ModelSet((ContactModel("core", starter, drives_stages=True),
                       ContactModel("next", doubled, shadow=True)), company)
    cache = open_cache(str(tmp_path / "c.db"))
    for contact in ("1", "2"):
        add_contact(cache, contact, email=f"c{contact}@acme.example")
        add_company(cache, "10", contact, name="Acme")
        add_event(cache, contact, "meetings", f"m{contact}", "2026-11-20T10:00:00Z",
                  hs_meeting_outcome="COMPLETED")
    cache.conn.commit()

    rescore(cache, models, AS_OF)
    engagement = dict(cache.conn.execute(
        "SELECT model, sum(engagement) FROM scores GROUP BY model").fetchall())
    assert engagement["next"] > engagement["core"] > 0
    scored = rescore_companies(cache, company, AS_OF,
                               engagement_model=models.engagement_source.name)
    assert (scored.scored, scored.changed) == (1, 1)
    contacts, rolled = cache.conn.execute(
        "SELECT contacts, engagement FROM company_scores WHERE company_id = '10'").fetchone()
    # top 3 of the contacts' engagement, each capped at 20, then capped at 30
    per_contact = [min(e, 20) for (e,) in cache.conn.execute(
        "SELECT engagement FROM scores WHERE model = 'core' ORDER BY contact_id")]
    assert contacts == 2 and rolled == min(sum(per_contact), 30)
    cache.close()
