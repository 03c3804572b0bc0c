"""The pure side of simulate: matrices, distributions, movers and history rows, by hand."""
from __future__ import annotations

from scoring.simulate import Comparison, Side, distribution, render


def side(total: float, grade: str | None = "B2", stage: str | None = "lead",
         reasons: tuple = ()) -> Side:
    return Side(total, total, 0.0, grade, stage, reasons)


def test_changes_are_exactly_the_contacts_whose_total_grade_or_stage_moves():
    comparison = Comparison("stored", "candidate", "2026-11-22T00:00:00.000Z")
    assert comparison.add("1", side(10), side(10)) is None
    assert comparison.add("2", side(10), side(12)) is not None             # total
    assert comparison.add("3", side(10), side(10, grade="A2")) is not None  # grade
    assert comparison.add("4", side(10), side(10, stage="marketingqualifiedlead")) is not None
    first = comparison.add("5", None, side(0, grade=None, stage=None))      # never scored
    assert first is not None and first.old_total is None
    result = comparison.result()
    assert [c.contact_id for c in result.changes] == ["2", "3", "4", "5"]
    assert result.changed == 4 and result.contacts == 5
    assert result.grades == {"(unscored)": {"(none)": 1}, "B2": {"A2": 1, "B2": 3}}
    assert result.stages == {"(unscored)": {"(none)": 1},
                             "lead": {"lead": 3, "marketingqualifiedlead": 1}}


def test_movers_are_the_biggest_moves_either_way_with_ties_to_the_higher_id():
    comparison = Comparison("a", "b", "t", movers=3)
    for contact_id, old, new in [("1", 10, 15), ("2", 50, 20), ("3", 5, 10), ("4", 7, 7),
                                 ("10", 0, 5), ("11", 1, 2)]:
        comparison.add(contact_id, side(old), side(new))
    movers = comparison.result().movers
    assert [(m.contact_id, m.delta) for m in movers] == [("2", -30), ("10", 5), ("3", 5)]


def test_distribution_deciles_by_nearest_rank_and_ten_point_bins():
    dist = distribution([0, 5, 10, 12.5, 20, 35, 35, 60, 99.9, 100])
    assert (dist.count, dist.mean, dist.min, dist.max) == (10, 37.7, 0, 100)
    assert dist.quantiles == {"p10": 0, "p20": 5, "p30": 10, "p40": 12.5, "p50": 20, "p60": 35,
                              "p70": 35, "p80": 60, "p90": 99.9}
    assert [(b["from"], b["to"], b["contacts"]) for b in dist.histogram] == [
        (0, 10, 2), (10, 20, 2), (20, 30, 1), (30, 40, 2), (40, 50, 0), (50, 60, 0),
        (60, 70, 1), (70, 80, 0), (80, 90, 0), (90, 100, 2)]


def test_distribution_of_negative_scores_and_of_nothing():
    assert [(b["from"], b["contacts"]) for b in distribution([-15, -0.5, 3]).histogram] == [
        (-20, 1), (-10, 1), (0, 1)]
    assert distribution([]).count == 0 and distribution([]).histogram == []


def test_render_puts_both_explanations_side_by_side():
    comparison = Comparison("stored scores", "candidate", "t")
    comparison.add("7", side(20, reasons=(("Executive or VP", "fit", 20.0),)),
                   side(26, grade="A2", reasons=(("Executive or VP", "fit", 26.0),
                                                 ("Demo request", "engagement", 0.0))),
                   email="ann@acme.io")
    text = render(comparison.result(), ["  push lines"])
    assert "  contact 7 <ann@acme.io>: 20 -> 26 (+6)" in text
    row = next(line for line in text.splitlines() if "fit: Executive or VP" in line)
    assert row.split() == ["fit:", "Executive", "or", "VP", "+20", "+26"]
    grade = next(line for line in text.splitlines() if line.strip().startswith("grade"))
    assert grade.split() == ["grade", "B2", "A2"]
    assert text.endswith("  push lines")
