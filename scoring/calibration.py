"""How well a fitted model's scores rank and predict, on validation rows. Pure (numpy).

`evaluate` gives a model's ROC AUC, its top-tenth lift and its calibration: the rows in ten
bands by score, highest first, and in each the conversion rate the model predicted (from its
log-odds) against the rate observed. Rows may carry weights (a sampled non-converter stands
for 1/rate contacts): lift and calibration are weighted; AUC is not, since sampling
non-converters does not bias it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scoring.metrics import auc

BANDS = 10


@dataclass(frozen=True)
class Band:
    """One score band of the validation rows: who is in it, predicted and observed rates."""

    band: int
    contacts: float
    predicted: float | None
    observed: float | None


@dataclass(frozen=True)
class Fitted:
    """One model's figures on the validation rows."""

    model: str
    auc: float | None
    top_decile_lift: float | None
    calibration: tuple[Band, ...]


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    means = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(means, ends - starts)
    return ranks


def offset(x: np.ndarray, y: np.ndarray) -> float:
    """b with mean(sigmoid(x + b)) = mean(y): the intercept of a fixed-slope logistic fit."""
    b = math.log(max(y.mean(), 1e-9) / max(1 - y.mean(), 1e-9)) - float(np.mean(x))
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x + b)))
        step = (p.sum() - y.sum()) / max((p * (1 - p)).sum(), 1e-12)
        b -= step
        if abs(step) < 1e-12:
            break
    return b


def fast_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks (for choosing the regularisation)."""
    ranks = average_ranks(scores)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def evaluate(name: str, scores: np.ndarray, logits: np.ndarray, labels: np.ndarray,
              weights: np.ndarray) -> Fitted:
    """AUC (unweighted: sampling non-converters does not bias it), and lift and calibration
    per tenth of the (weighted) contacts, highest scores first."""
    value = auc(list(map(float, scores)), list(map(bool, labels)))
    order = np.lexsort((np.arange(len(scores)), -scores))
    w, y = weights[order], labels[order]
    p = 1 / (1 + np.exp(-logits[order]))
    cumulative = np.cumsum(w)
    total, positives = cumulative[-1], float((w * y).sum())
    band = np.minimum(BANDS - 1, (BANDS * (cumulative - w / 2) / total).astype(int))
    bands = []
    for b in range(BANDS):
        m = band == b
        size = float(w[m].sum())
        bands.append(Band(b + 1, round(size, 1),
                          round(float((w[m] * p[m]).sum() / size), 4) if size else None,
                          round(float((w[m] * y[m]).sum() / size), 4) if size else None))
    rate = positives / total
    lift = None if not rate or bands[0].observed is None else round(bands[0].observed / rate, 2)
    return Fitted(name, None if value is None else round(value, 4), lift, tuple(bands))
