"""The report's leakage section: the post-scoring funnel and per-owner follow-up times.

Separate from analysis/report.py so the report's own sections and charts can change
without touching this one; `section(leakage)` returns the HTML, charts inlined as SVG.
"""
from __future__ import annotations

import html

import matplotlib

from analysis import report_charts as charts
from analysis.leakage import Leakage

EMPTY = ("No handoff SLA data yet: add an [sla] to the model (docs/model.md), then run "
         "`leadsync sync`.")


def section(leakage: Leakage | None) -> str:
    """`<section id="leakage">`: the funnel chart and table, follow-up times chart and table."""
    why = ("After scoring, where do leads leak? Each step shows how many contacts reached it "
           "and how many leaked there (red). Below, each owner's time from handoff to first "
           "touch: median and 90th percentile in hours, and the share touched within the SLA.")
    head = '<section id="leakage"><h2>Lead leakage after the handoff</h2>' \
           f'<p class="why">{html.escape(why)}</p>'
    if leakage is None or not leakage.with_sla:
        return head + f'<p class="empty">{html.escape(EMPTY)}</p></section>\n'
    body = (f'<figure id="chart-leakage">{funnel_chart(leakage.funnel)}'
            f'{_funnel_table(leakage.funnel)}</figure>')
    if leakage.first_touch:
        body += (f'<figure id="chart-followup">{follow_up_chart(leakage.first_touch)}'
                 f'{_touch_table(leakage.first_touch)}</figure>')
    return head + body + "</section>\n"


def funnel_chart(funnel: list[dict]) -> str:
    """Per step, contacts that reached it (blue) and those that leaked there (red)."""
    with matplotlib.rc_context(charts._STYLE):
        fig = charts._figure(7.5, 0.55 * len(funnel) + 1.2)
        ax = fig.subplots()
        names = [s["step"] for s in funnel][::-1]
        ax.barh(names, [s["contacts"] for s in funnel][::-1], color=charts.BLUE,
                label="reached the step")
        ax.barh(names, [s["leaked"] for s in funnel][::-1], color=charts.RED, height=0.4,
                label="leaked at the step")
        ax.set_xlabel("contacts")
        ax.legend(loc="lower right", frameon=False)
        ax.set_title("Leakage funnel")
    return charts._svg(fig, "leakage")


def follow_up_chart(rows: list[dict]) -> str:
    """Per owner: median and 90th-percentile hours from handoff to first touch."""
    with matplotlib.rc_context(charts._STYLE):
        fig = charts._figure(7.5, 0.5 * len(rows) + 1.2)
        ax = fig.subplots()
        owners = [r["owner"] for r in rows][::-1]
        positions = range(len(owners))
        ax.barh([p + 0.2 for p in positions], [r["p90_hours"] for r in rows][::-1], height=0.4,
                color=charts.ORANGE, label="90th percentile")
        ax.barh([p - 0.2 for p in positions], [r["median_hours"] for r in rows][::-1],
                height=0.4, color=charts.BLUE, label="median")
        ax.set_yticks(list(positions), owners)
        ax.set_xlabel("hours from handoff to the owner's first touch")
        ax.legend(loc="lower right", frameon=False)
        ax.set_title("Follow-up time per owner")
    return charts._svg(fig, "followup")


def _funnel_table(funnel: list[dict]) -> str:
    rows = "".join(f"<tr><td>{html.escape(s['step'])}</td><td>{s['contacts']:,}</td>"
                   f"<td>{s['leaked']:,}</td><td>{html.escape(s['leak'])}</td></tr>"
                   for s in funnel)
    return ("<table><tr><th>step</th><th>contacts</th><th>leaked</th><th>what leaked</th></tr>"
            f"{rows}</table>")


def _touch_table(rows: list[dict]) -> str:
    body = "".join(f"<tr><td>{html.escape(r['owner'])}</td><td>{r['touched']:,}</td>"
                   f"<td>{r['median_hours']:.1f}</td><td>{r['p90_hours']:.1f}</td>"
                   f"<td>{r['within_sla']:.0%}</td></tr>" for r in rows)
    return ("<table><tr><th>owner</th><th>touched</th><th>median hours</th><th>p90 hours</th>"
            f"<th>within SLA</th></tr>{body}</table>")
