"""scoring/models.py: segments (applies_to) mean the same per contact and per chunk; a
segment's chunk is scored exactly as the same contacts in the whole chunk."""
from datetime import datetime, timezone

import numpy as np
import pytest

from scoring import ModelError, load, loads, scorer
from scoring.batch import batch_scorer, chunk_of
from scoring.engine import epoch
from scoring.models import ContactModel, ModelSet, segment, subset

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
STARTER = load()
# the starter, with "N/A" counting as missing (as placeholders do in rules)
MODEL = loads(STARTER.text.replace("[model]\n", '[model]\nmissing_values = ["N/A"]\n'))
CONTACTS = [
    {"id": "1", "country": "Germany", "email": "a@acme.de", "jobtitle": "VP Sales"},
    {"id": "2", "country": "germany", "email": "b@gmail.com", "jobtitle": "Intern"},
    {"id": "3", "country": "N/A", "email": "c@acme.com"},
    {"id": "4", "email": "d@acme.com", "numemployees": "50-100"},
    {"id": "5", "country": "France", "jobtitle": "Director of Marketing"},
]
COMPANIES = [{"industry": "COMPUTER_SOFTWARE"}, None, {"industry": "RETAIL"}, None,
             {"industry": "COMPUTER_SOFTWARE"}]
EVENTS = [[("meetings", epoch(AS_OF) - 86400 * 3, {"hs_meeting_outcome": "COMPLETED"})], [],
          [("emails", epoch(AS_OF) - 86400, {})],
          [("calls", epoch(AS_OF) - 86400 * 40, {"hs_call_status": "COMPLETED"})],
          [("meetings", epoch(AS_OF) - 86400, {"hs_meeting_outcome": "SCHEDULED"})]]


@pytest.mark.parametrize("spec, inside", [
    ({"country": {"in": ["Germany", "France"]}}, [1, 1, 0, 0, 1]),  # case ignored, as in rules
    ({"country": {"exists": True}}, [1, 1, 0, 0, 1]),  # "N/A" is a placeholder: missing
    ({"company.industry": {"equals": "COMPUTER_SOFTWARE"}}, [1, 0, 0, 0, 1]),
    ({"any": [{"is_free_email": {"equals": True}}, {"email_domain": {"equals": "acme.com"}}]},
     [0, 1, 1, 1, 0]),
    ({"not": {"country": {"in": ["Germany"]}}}, [0, 0, 1, 1, 1]),
])
def test_segment_means_the_same_for_one_contact_and_for_a_chunk(spec, inside):
    seg = segment(spec, MODEL, source="leadsync.toml", where="models[0] (a).applies_to")
    now = epoch(AS_OF)
    one = seg.tester(now)
    per_contact = [int(one(c, co)) for c, co in zip(CONTACTS, COMPANIES)]
    mask = seg.masker(now)(chunk_of(CONTACTS, EVENTS, COMPANIES))
    assert per_contact == mask.astype(int).tolist() == inside


def test_segment_problems_name_the_config_key():
    with pytest.raises(ModelError) as info:
        segment({"contry": {"in": ["DE"]}}, MODEL, source="leadsync.toml",
                where="models[1] (b).applies_to")
    assert str(info.value).startswith("leadsync.toml: models[1] (b).applies_to.contry: ")
    with pytest.raises(ModelError, match="days_since_last_engagement changes with every "
                                         "engagement; a segment reads contact and company"):
        segment({"days_since_last_engagement": {"lt": 30}}, MODEL, source="x", where="w")
    with pytest.raises(ModelError, match="score is only known after scoring"):
        segment({"score": {"gt": 30}}, MODEL, source="x", where="w")


def test_segment_reads_its_properties_and_a_subset_scores_like_the_whole_chunk():
    seg = segment({"country": {"in": ["Germany"]}, "company.industry": {"exists": True}},
                  MODEL, source="x", where="w")
    assert (seg.contact_names, seg.company_names) == (("country",), ("industry",))
    chunk = chunk_of(CONTACTS, EVENTS, COMPANIES)
    batch = batch_scorer(MODEL, AS_OF)
    whole = batch.score(chunk)
    where = np.array([0, 2, 4])
    part = batch.score(subset(chunk, where))
    assert [part.score(i) for i in range(3)] == [whole.score(i) for i in (0, 2, 4)] == [
        scorer(MODEL, AS_OF)(CONTACTS[i], EVENTS[i], COMPANIES[i]) for i in (0, 2, 4)]


def test_a_model_set_has_one_stage_driver_and_knows_its_champion_and_shadows():
    a = ContactModel("a", MODEL)
    b = ContactModel("b", MODEL, drives_stages=True)
    c = ContactModel("c", MODEL, shadow=True, written=False)
    models = ModelSet((a, b, c))
    assert (models.names, models.primary, models.stage_driver, models.shadows) == (
        ("a", "b", "c"), b, b, (c,))
    assert ModelSet((c, a)).primary is a and ModelSet((c,)).primary is c
    assert ModelSet.single(MODEL).contacts[0].drives_stages
    with pytest.raises(ValueError, match="distinct model names"):
        ModelSet((a, ContactModel("a", MODEL)))
    with pytest.raises(ValueError, match="at most one model drives"):
        ModelSet((b, ContactModel("d", MODEL, drives_stages=True)))
