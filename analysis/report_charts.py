"""The report's charts: matplotlib figures rendered to inline SVG strings.

Only `matplotlib.figure.Figure` is used, never pyplot: no GUI backend is chosen, no global
state is touched, and the SVG renderer is picked by `savefig(format="svg")`. Text stays text
(`svg.fonttype = none`) so the report is small and its labels can be searched and copied.
"""
from __future__ import annotations

import io
import re
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BLUE, ORANGE, GREEN, RED = "#2563eb", "#f97316", "#16a34a", "#dc2626"
GREY, INK = "#9ca3af", "#1f2937"
SERIES = (BLUE, ORANGE, "#7c3aed", "#0d9488")
_STYLE = {"svg.fonttype": "none", "svg.hashsalt": "leadsync", "font.size": 9,
          "font.family": "DejaVu Sans",  # ships with matplotlib: no font lookups, no warnings
          "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": GREY,
          "axes.titlesize": 10, "axes.titleweight": "bold", "text.color": INK,
          "axes.labelcolor": INK, "xtick.color": INK, "ytick.color": INK}


def _svg(fig: Figure, name: str) -> str:
    """The figure as an <svg> element for inline HTML: no XML prolog, no metadata, no
    namespace URLs, and ids prefixed with `name` so several charts can share one page."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = re.sub(r'(id="|url\(#|href="#)', rf"\1{name}-", text)
    # Readers without DejaVu Sans get a close sans-serif instead of the browser's serif default.
    text = text.replace("'DejaVu Sans'", "'DejaVu Sans', Helvetica, Arial, sans-serif")
    return text.replace("<svg ", f'<svg role="img" aria-label="{name} chart" ', 1)


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
    # A margin of ~6 pt: browsers' text metrics differ slightly from matplotlib's.
    figure.get_layout_engine().set(w_pad=0.08, h_pad=0.08)
    return figure


def funnel(stages: Sequence[tuple[str, int]]) -> str:
    """Contacts that reached each stage (or a later one), widest first."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(7.5, 0.45 * len(stages) + 0.9)
        ax = fig.subplots()
        names = [name for name, _ in stages][::-1]
        counts = [count for _, count in stages][::-1]
        bars = ax.barh(names, counts, color=BLUE)
        top = max(counts, default=0) or 1
        for bar, (i, count) in zip(bars, enumerate(counts)):
            share = f"  {count:,}" + (f"  ({count / counts[i + 1]:.0%} of previous)"
                                       if i + 1 < len(counts) and counts[i + 1] else "")
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, share, va="center")
        ax.set_xlim(0, top * 1.45)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("contacts that reached the stage (or a later one)")
        return _svg(fig, "funnel")


def score_histogram(bins: Sequence[dict]) -> str:
    """Contacts per 10-point score band."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.2, 3.2)
        ax = fig.subplots()
        lefts = [b["from"] for b in bins]
        ax.bar(lefts, [b["contacts"] for b in bins], width=[b["to"] - b["from"] for b in bins],
               align="edge", color=BLUE, edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("score")
        ax.set_ylabel("contacts")
        ax.set_title("Score distribution")
        return _svg(fig, "scores")


def grade_matrix(counts: dict[str, int]) -> str:
    """A1…C3 as the 3×3 grid they come from: fit letter (rows) × engagement number."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(4.2, 3.2)
        ax = fig.subplots()
        grid = [[counts.get(f"{letter}{number}", 0) for number in "123"] for letter in "ABC"]
        image = ax.imshow(grid, cmap="Blues")
        peak = max(max(row) for row in grid) or 1
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                ax.text(c, r, f"{'ABC'[r]}{c + 1}\n{value:,}", ha="center", va="center",
                        color="white" if value > peak / 2 else INK)
        ax.set_xticks(range(3), ["1", "2", "3"])
        ax.set_yticks(range(3), ["A", "B", "C"])
        ax.set_xlabel("engagement (1 = most engaged)")
        ax.set_ylabel("fit (A = best)")
        ax.set_title("Grades")
        fig.colorbar(image, ax=ax, shrink=0.8, label="contacts")
        return _svg(fig, "grades")


def lift(evaluations: Sequence[dict]) -> str:
    """Lift per score decile, and the share of conversions captured, per model."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 3.4)
        left, right = fig.subplots(1, 2)
        count = len(evaluations)
        width = 0.8 / max(count, 1)
        for i, evaluation in enumerate(evaluations):
            deciles = evaluation["deciles"]
            xs = [d["index"] + (i - (count - 1) / 2) * width for d in deciles]
            color = SERIES[i % len(SERIES)]
            left.bar(xs, [d["lift"] or 0 for d in deciles], width=width, color=color,
                     label=evaluation["model"])
            right.plot([0] + [d["index"] * 10 for d in deciles],
                       [0] + [(d["captured"] or 0) * 100 for d in deciles], marker="o",
                       color=color, label=f"{evaluation['model']} (AUC {_auc(evaluation)})")
        left.axhline(1, color=GREY, linestyle="--", linewidth=1)
        left.set_xticks(range(1, 11))
        left.set_xlabel("score decile (1 = highest scores)")
        left.set_ylabel("lift (conversion rate / average)")
        left.set_title("Lift by decile")
        right.plot([0, 100], [0, 100], color=GREY, linestyle="--", linewidth=1, label="random")
        right.set_xlabel("% of contacts, best scores first")
        right.set_ylabel("% of conversions captured")
        right.set_title("Cumulative gains")
        right.legend(loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, "lift")


def _auc(evaluation: dict) -> str:
    return "-" if evaluation.get("auc") is None else f"{evaluation['auc']:.2f}"


def sources(groups: Sequence[tuple[str, int, int]]) -> str:
    """Conversion rate per source channel, with contacts per channel."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(7.5, 0.42 * len(groups) + 1.0)
        ax = fig.subplots()
        ordered = list(groups)[::-1]
        rates = [100 * converted / contacts if contacts else 0
                 for _, contacts, converted in ordered]
        bars = ax.barh([name for name, _, _ in ordered], rates, color=GREEN)
        for bar, (_, contacts, converted) in zip(bars, ordered):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f"  {converted:,} of {contacts:,}", va="center")
        ax.set_xlim(0, max(rates, default=0) * 1.35 or 1)
        ax.set_xlabel("% that became opportunity or customer")
        return _svg(fig, "sources")


def trend(days: Sequence[str], means: Sequence[float], qualified: Sequence[int]) -> str:
    """Mean score of scored contacts over time, and how many were MQL or later."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 3.2)
        ax = fig.subplots()
        xs = range(len(days))
        ax.plot(xs, means, color=BLUE, marker="o" if len(days) < 40 else None,
                label="mean score")
        ax.set_ylabel("mean score", color=BLUE)
        other = ax.twinx()
        other.spines["right"].set_visible(True)
        other.plot(xs, qualified, color=ORANGE, marker="s" if len(days) < 40 else None,
                   label="MQL or later")
        other.set_ylabel("contacts MQL or later", color=ORANGE)
        step = max(1, len(days) // 8)
        ax.set_xticks(list(xs)[::step], list(days)[::step], rotation=30, ha="right")
        ax.set_xlim(-0.5, len(days) - 0.5)
        ax.set_title("Scores over time (as of each scoring date)")
        return _svg(fig, "trend")


def rules(items: Sequence[tuple[str, float, int]]) -> str:
    """Total points each rule contributes across all scored contacts, largest first."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 0.36 * len(items) + 1.0)
        ax = fig.subplots()
        ordered = list(items)[::-1]
        values = [points for _, points, _ in ordered]
        bars = ax.barh([name for name, _, _ in ordered], values,
                       color=[GREEN if v >= 0 else RED for v in values])
        for bar, (_, points, contacts) in zip(bars, ordered):
            # Penalties are labelled right of zero, where their row is empty.
            ax.text(max(bar.get_width(), 0), bar.get_y() + bar.get_height() / 2,
                    f"  {points:,.0f} ({contacts:,} contacts)", va="center")
        low, high = min(values + [0]), max(values + [0])
        span = (high - low) or 1
        ax.set_xlim(low - 0.05 * span * (low < 0), high + 0.5 * span)
        ax.axvline(0, color=GREY, linewidth=1)
        ax.set_xlabel("points contributed across all scored contacts")
        return _svg(fig, "rules")
