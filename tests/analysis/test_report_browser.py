"""The report in a real headless browser (Debian's chromium): no console errors, every chart
in the DOM as SVG, and a screenshot that shows them.

How chromium is found and launched: tests/headless.py.
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from headless import dump_dom
from PIL import Image
from report_world import build

from analysis.report import write_report
from analysis.report_charts import BLUE, GREEN, ORANGE, RED

CHARTS = ("funnel", "scores", "lift", "sources", "trend", "rules")
WIDTH, HEIGHT = 1200, 3000


class Charts(HTMLParser):
    """Counts, per <figure id="chart-…">, the <svg> elements and the shapes inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.figure: str | None = None
        self.svgs: dict[str, int] = {}
        self.shapes: dict[str, int] = {}
        self.legends: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id") or ""
        if tag == "figure" and found.startswith("chart-"):
            self.figure = found[len("chart-"):]
            self.svgs[self.figure], self.shapes[self.figure] = 0, 0
            self.legends[self.figure] = 0
        elif self.figure and tag == "svg":
            self.svgs[self.figure] += 1
        elif self.figure and tag in ("path", "use", "rect", "text"):
            self.shapes[self.figure] += 1
        elif self.figure and tag == "g" and "-legend_" in found:
            self.legends[self.figure] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.figure = None


def pixels_like(image: Image.Image, colour: str, tolerance: int = 12) -> int:
    target = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, rgb in image.getcolors(WIDTH * HEIGHT)
               if all(abs(a - b) <= tolerance for a, b in zip(rgb, target)))


def test_the_report_renders_in_a_headless_browser_with_its_charts(tmp_path: Path) -> None:
    cache = build(tmp_path / "l.db")
    page = write_report(cache, tmp_path / "report.html")
    cache.close()
    shot = tmp_path / "report.png"
    done = dump_dom(page.as_uri(), tmp_path / "profile", f"--screenshot={shot}",
                    f"--window-size={WIDTH},{HEIGHT}")
    assert done.returncode == 0, done.stderr[-2000:]
    # Console messages (errors included) are logged as ":CONSOLE" lines; the page has none.
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []

    dom = Charts()
    dom.feed(done.stdout)
    assert dom.svgs == {"funnel": 1, "scores": 2, "lift": 1, "sources": 1, "trend": 1, "rules": 1}
    assert all(dom.shapes[name] >= 20 for name in CHARTS), dom.shapes
    # Every chart has a legend (the lift figure one per panel, the scores pair one each).
    assert dom.legends == {"funnel": 1, "scores": 2, "lift": 2, "sources": 1, "trend": 1,
                           "rules": 1}

    image = Image.open(shot).convert("RGB")
    assert image.size == (WIDTH, HEIGHT)
    # The bars and lines are there, in the charts' colours: blue (funnel, scores, lift),
    # orange (lift, trend), green (sources, rules) and red (a penalty rule).
    for colour in (BLUE, ORANGE, GREEN, RED):
        assert pixels_like(image, colour) > 400, colour
