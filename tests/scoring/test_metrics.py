"""Backtest metrics against values computed by hand on small fixtures."""
from __future__ import annotations

import pytest

from scoring.metrics import (auc, auc_standard_error, aucs_separated, capacity_cut, confusion,
                             conversions_to_separate, deciles, rates_by, top_decile_lift)

# Ten contacts, best score first. Converted: 0.9, one of the two 0.8s, 0.7, one of the 0.5s.
SCORES = [0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4, 0.3, 0.1]
LABELS = [True, True, False, True, False, False, True, False, False, False]


def test_auc_counts_pairs_won_with_ties_as_half():
    # Each converted contact against the 6 that did not:
    # 0.9 wins 6; 0.8 ties 1, wins 5 = 5.5; 0.7 wins 5; 0.5 ties 1, wins 3 = 3.5 -> 20 / 24.
    assert auc(SCORES, LABELS) == 20 / 24


def test_auc_does_not_depend_on_input_order():
    order = [3, 9, 0, 6, 1, 8, 2, 7, 5, 4]
    assert auc([SCORES[i] for i in order], [LABELS[i] for i in order]) == 20 / 24


def test_auc_of_a_perfect_an_inverted_and_a_constant_model():
    labels = [True, True, False, False]
    assert auc([4, 3, 2, 1], labels) == 1.0
    assert auc([1, 2, 3, 4], labels) == 0.0
    assert auc([7, 7, 7, 7], labels) == 0.5


def test_auc_is_undefined_without_both_outcomes():
    assert auc([1, 2], [True, True]) is None
    assert auc([1, 2], [False, False]) is None
    assert auc([], []) is None


def test_deciles_of_ten_contacts_share_tied_conversions():
    buckets = deciles(SCORES, LABELS)
    assert [b.contacts for b in buckets] == [1] * 10
    # The two 0.8s (one converted) fill deciles 2 and 3: half a conversion each; same for 0.5s.
    assert [b.converted for b in buckets] == [1, 0.5, 0.5, 1, 0, 0.5, 0.5, 0, 0, 0]
    assert [b.rate for b in buckets] == [1, 0.5, 0.5, 1, 0, 0.5, 0.5, 0, 0, 0]
    assert [b.lift for b in buckets] == [2.5, 1.25, 1.25, 2.5, 0, 1.25, 1.25, 0, 0, 0]
    assert [b.captured for b in buckets] == [0.25, 0.375, 0.5, 0.75, 0.75, 0.875, 1, 1, 1, 1]
    assert [(b.max_score, b.min_score) for b in buckets[:3]] == [(0.9, 0.9), (0.8, 0.8), (0.8, 0.8)]
    assert top_decile_lift(buckets) == 2.5


def test_deciles_of_uneven_counts_and_a_tie_across_the_boundary():
    # 12 contacts, 5 bands: edges floor(i*12/5) = 0, 2, 4, 7, 9, 12 -> sizes 2, 2, 3, 2, 3.
    scores = [10, 9, 9, 9, 9, 5, 5, 4, 3, 2, 1, 0]
    labels = [1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0]
    buckets = deciles(scores, [bool(y) for y in labels], bands=5)
    assert [b.contacts for b in buckets] == [2, 2, 3, 2, 3]
    # The four 9s (one converted) hold ranks 2-5: a quarter conversion each, one in band 1,
    # two in band 2, one in band 3; the two 5s (one converted) share theirs in band 3.
    assert [b.converted for b in buckets] == [1.25, 0.5, 1.25, 1, 0]
    assert buckets[0].rate == 0.625
    assert buckets[0].lift == round(0.625 / (4 / 12), 10)
    assert [(b.max_score, b.min_score) for b in buckets] == [
        (10, 9), (9, 9), (9, 5), (4, 3), (2, 0)]


def test_a_constant_model_has_lift_one_everywhere():
    buckets = deciles([3] * 20, [i % 4 == 0 for i in range(20)])
    assert [b.lift for b in buckets] == [1.0] * 10
    assert [b.converted for b in buckets] == [0.5] * 10


def test_deciles_with_fewer_contacts_than_bands_leave_bands_empty():
    buckets = deciles([2, 1], [True, False], bands=4)
    assert [b.contacts for b in buckets] == [0, 1, 0, 1]
    assert [b.rate for b in buckets] == [None, 1, None, 0]


def test_precision_and_recall_of_a_threshold():
    result = confusion([s >= 0.6 for s in SCORES], LABELS)
    assert (result.selected, result.true_positives, result.false_positives,
            result.false_negatives, result.true_negatives) == (5, 3, 2, 1, 4)
    assert (result.precision, result.recall) == (0.6, 0.75)


def test_precision_is_undefined_when_nothing_is_selected():
    result = confusion([False] * 10, LABELS)
    assert (result.precision, result.recall) == (None, 0)


def test_capacity_threshold_is_the_score_of_the_last_contact_sales_can_take():
    cut = capacity_cut(SCORES, LABELS, 4)
    assert cut.threshold == 0.7
    assert (cut.selected.selected, cut.selected.true_positives) == (4, 3)
    assert (cut.selected.precision, cut.selected.recall) == (0.75, 0.75)


def test_capacity_cut_inside_a_tie_selects_the_whole_tie():
    cut = capacity_cut(SCORES, LABELS, 2)
    assert cut.threshold == 0.8
    assert cut.selected.selected == 3
    assert cut.selected.precision == pytest.approx(2 / 3, abs=1e-10)


def test_capacity_larger_than_the_population_takes_everyone():
    cut = capacity_cut(SCORES, LABELS, 50)
    assert cut.threshold == 0.1
    assert (cut.selected.selected, cut.selected.recall) == (10, 1)


def test_rates_by_grade_follow_the_given_order_then_the_rest():
    groups = rates_by(["B2", "A1", None, "A1", "B2", "Z"], [True, True, False, False, False, True],
                      order=["A1", "B2"])
    assert [(g.name, g.contacts, g.converted, g.rate) for g in groups] == [
        ("A1", 2, 1, 0.5), ("B2", 2, 1, 0.5), ("(none)", 1, 0, 0), ("Z", 1, 1, 1)]


def test_metrics_refuse_sequences_of_different_lengths():
    with pytest.raises(ValueError, match="3 scores but 2 outcomes"):
        auc([1, 2, 3], [True, False])


def test_hanley_mcneil_standard_error_of_an_auc():
    # A = 0.8 with 50 converted and 50 not: Q1 = 2/3, Q2 = 0.71111; SE = sqrt(4.95111 / 2500)
    assert round(auc_standard_error(0.8, 50, 50), 4) == 0.0445
    assert round(auc_standard_error(0.5, 10, 990), 4) == 0.0918  # sqrt(83.41667 / 9900)
    assert auc_standard_error(0.7, 0, 10) is None


def test_two_aucs_are_separated_only_with_enough_conversions():
    assert not aucs_separated(0.70, 0.66, 14, 986)  # SE ~0.08 each: 0.04 is noise
    assert aucs_separated(0.70, 0.66, 3_000, 211_286)
    needed = conversions_to_separate(0.70, 0.66, 14, 986)
    assert aucs_separated(0.70, 0.66, needed, round(needed * 986 / 14))
    assert not aucs_separated(0.70, 0.66, needed - 1, round((needed - 1) * 986 / 14))
    assert 400 < needed < 700
    assert conversions_to_separate(0.7, 0.7, 14, 986) is None
