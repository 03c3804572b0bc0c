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
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

BLUE, ORANGE, GREEN, RED = "#2563eb", "#f97316", "#16a34a", "#dc2626"
GREY, INK = "#9ca3af", "#1f2937"
SERIES = (BLUE, ORANGE, "#7c3aed", "#0d9488")
# Lines differ in colour, dash and marker, so they stay apart in grey print and for
# colour-blind readers.
DASHES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D")
LIGHT_BLUE = "#93c5fd"
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
        bars = ax.barh(names, counts, color=BLUE, label="contacts that reached the stage")
        top = max(counts, default=0) or 1
        for bar, (i, count) in zip(bars, enumerate(counts)):
            share = f"  {count:,}" + (f"  ({count / counts[i + 1]:.0%} of previous)"
                                       if i + 1 < len(counts) and counts[i + 1] else "")
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, share, va="center")
        ax.set_xlim(0, top * 1.45)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("contacts that reached the stage (or a later one)")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, "funnel")


def score_histogram(bins: Sequence[dict], unit: str = "contacts", name: str = "scores") -> str:
    """Contacts (or `unit`: companies) per 10-point score band; `name` prefixes the SVG ids."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.2, 3.2)
        ax = fig.subplots()
        lefts = [b["from"] for b in bins]
        ax.bar(lefts, [b["contacts"] for b in bins], width=[b["to"] - b["from"] for b in bins],
               align="edge", color=BLUE, edgecolor="white", label=f"{unit} per score band")
        if bins:  # fitted to the bands that hold scores, not a fixed 0-100
            ax.set_xlim(min(lefts), max(b["to"] for b in bins))
        ax.set_ylim(0, max([b["contacts"] for b in bins] + [1]) * 1.15)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="upper right", fontsize=8, frameon=False)
        ax.set_xlabel("score")
        ax.set_ylabel(unit)
        ax.set_title("Score distribution")
        return _svg(fig, name)


def grade_matrix(counts: dict[str, int], unit: str = "contacts", name: str = "grades") -> str:
    """A1…C3 as the 3×3 grid they come from: fit letter (rows) × engagement number; `unit`
    labels the counts (companies for the company model), `name` prefixes the SVG ids."""
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
        fig.colorbar(image, ax=ax, shrink=0.8, label=unit)
        ax.legend(handles=[Patch(color="#1e40af", label=f"darker: more {unit}")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False)
        return _svg(fig, name)


def lift(evaluations: Sequence[dict]) -> str:
    """Lift per score decile, and the share of conversions captured, per model."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 3.4)
        left, right = fig.subplots(1, 2)
        count = len(evaluations)
        width = 0.8 / max(count, 1)
        highest = 1.0
        for i, evaluation in enumerate(evaluations):
            deciles = evaluation["deciles"]
            xs = [d["index"] + (i - (count - 1) / 2) * width for d in deciles]
            color = SERIES[i % len(SERIES)]
            lifts = [d["lift"] or 0 for d in deciles]
            highest = max([highest] + lifts)
            left.bar(xs, lifts, width=width, color=color, label=evaluation["model"],
                     hatch=("", "//", "..", "xx")[i % 4], edgecolor="white")
            right.plot([0] + [d["index"] * 10 for d in deciles],
                       [0] + [(d["captured"] or 0) * 100 for d in deciles],
                       marker=MARKERS[i % len(MARKERS)], linestyle=DASHES[i % len(DASHES)],
                       color=color, label=f"{evaluation['model']} (AUC {_auc(evaluation)})")
        left.axhline(1, color=GREY, linestyle=":", linewidth=1.2, label="average (lift 1)")
        left.set_xticks(range(1, 11))
        left.set_xlim(0.4, 10.6)
        left.set_ylim(0, highest * 1.15)
        left.set_xlabel("score decile (1 = highest scores)")
        left.set_ylabel("lift (conversion rate / average)")
        left.set_title("Lift by decile")
        left.legend(loc="upper right", fontsize=8, frameon=False)
        right.plot([0, 100], [0, 100], color=GREY, linestyle=":", linewidth=1.2, label="random")
        right.set_xlim(0, 100)
        right.set_ylim(0, 100)
        right.set_xlabel("% of contacts, best scores first")
        right.set_ylabel("% of conversions captured")
        right.set_title("Cumulative gains")
        right.legend(loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, "lift")


def _auc(evaluation: dict) -> str:
    return "-" if evaluation.get("auc") is None else f"{evaluation['auc']:.2f}"


def sources(groups: Sequence[tuple[str, int, int, int, float | None]]) -> str:
    """Conversion and MQL rate per source channel (best converting on top), each bar
    labelled with its rate, counts and mean score."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(7.5, 0.62 * len(groups) + 1.2)
        ax = fig.subplots()
        ordered = list(groups)[::-1]
        ys = list(range(len(ordered)))
        converted = [100 * c / n if n else 0 for _, n, c, _, _ in ordered]
        qualified = [100 * m / n if n else 0 for _, n, _, m, _ in ordered]
        bars = ax.barh([y + 0.2 for y in ys], converted, height=0.4, color=GREEN,
                       label="became opportunity or customer")
        ax.barh([y - 0.2 for y in ys], qualified, height=0.4, color=LIGHT_BLUE,
                label="reached MQL")
        for bar, rate, (_, n, c, _, mean) in zip(bars, converted, ordered):
            score = "" if mean is None else f", mean score {mean:g}"
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f"  {rate:.1f}% ({c:,} of {n:,}{score})", va="center")
        ax.set_yticks(ys, [name for name, *_ in ordered])
        ax.set_ylim(-0.6, len(ordered) - 0.4)
        ax.set_xlim(0, max(converted + qualified + [1]) * 1.6)
        ax.set_xlabel("% of the channel's contacts")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, "sources")


def trend(days: Sequence[str], means: Sequence[float], qualified: Sequence[int]) -> str:
    """Mean score of scored contacts over time, and how many were MQL or later. With a few
    days the points carry their values, so one day of history still reads."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 3.2)
        ax = fig.subplots()
        xs = range(len(days))
        few = len(days) < 40
        ax.plot(xs, means, color=BLUE, linestyle="-", marker="o" if few else None,
                markersize=7 if len(days) == 1 else 5, label="mean score")
        ax.set_ylabel("mean score", color=BLUE)
        other = ax.twinx()
        other.spines["right"].set_visible(True)
        other.plot(xs, qualified, color=ORANGE, linestyle="--", marker="s" if few else None,
                   markersize=7 if len(days) == 1 else 5, label="contacts at MQL or later")
        other.set_ylabel("contacts MQL or later", color=ORANGE)
        if len(days) <= 3:
            for x, mean, count in zip(xs, means, qualified):
                ax.annotate(f"{mean:g}", (x, mean), textcoords="offset points", xytext=(0, 8),
                            ha="center", color=BLUE)
                other.annotate(f"{count:,}", (x, count), textcoords="offset points",
                               xytext=(0, -14), ha="center", color=ORANGE)
        ax.set_ylim(0, max(list(means) + [1]) * 1.25)
        other.set_ylim(0, max(list(qualified) + [1]) * 1.25)
        other.yaxis.set_major_locator(MaxNLocator(integer=True))
        step = max(1, len(days) // 8)
        ax.set_xticks(list(xs)[::step], list(days)[::step], rotation=30, ha="right")
        ax.set_xlim(-0.5 if len(days) > 1 else -1, len(days) - 0.5 if len(days) > 1 else 1)
        lines = ax.get_lines() + other.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8,
                  frameon=False)
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
        ax.legend(handles=[Patch(color=GREEN, label="adds points"),
                           Patch(color=RED, label="removes points")],
                  loc="lower right", fontsize=8, frameon=False)
        return _svg(fig, "rules")
