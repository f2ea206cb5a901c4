"""The auditor report as a browser shows it: headless Chromium renders every chart."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from PIL import Image

from engine.report.html import write_report
from tests.browser import INSTALL_HINT, find_chromium, image_states, png_size, screenshot
from tests.reportdata import CREATED, REJECTS, VERSIONS, make_decisions, sensitivity_frame

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason=f"chromium not found; {INSTALL_HINT}")

WIDTH, HEIGHT = 1200, 4000


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    decisions, labels = make_decisions(n=600, seed=11)
    path = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(path, decisions, labels=labels, rejects=REJECTS,
                        sensitivity=sensitivity_frame(), versions=VERSIONS, created_at=CREATED)


def test_every_chart_loads_at_its_own_size(report):
    embedded = [base64.b64decode(b) for b in
                re.findall(r'src="data:image/png;base64,([^"]+)"', report.read_text())]
    states = image_states(report)
    assert [s["alt"] for s in states] == [
        "Grade distribution", "PD distribution by customer class", "ROC and KS",
        "Observed default rate by grade", "Policies by grade and segment",
        "Sensitivity analysis", "Disparity by customer class"]
    assert all(s["complete"] for s in states)
    assert [(s["width"], s["height"]) for s in states] == [png_size(p) for p in embedded]
    assert all(s["width"] > 300 and s["height"] > 150 for s in states)


def test_a_broken_chart_is_detected(report, tmp_path):
    # The probe must tell a chart that failed to decode from one that loaded.
    broken = tmp_path / "broken.html"
    html = report.read_text()
    first = re.search(r'data:image/png;base64,([^"]+)', html).group(1)
    broken.write_text(html.replace(first, base64.b64encode(b"not a png").decode(), 1))
    states = image_states(broken)
    assert (states[0]["width"], states[0]["height"]) == (0, 0)
    assert all(s["width"] > 0 for s in states[1:])


def test_screenshot_shows_the_charts(report, tmp_path):
    shot = screenshot(report, tmp_path / "report.png", width=WIDTH, height=HEIGHT)
    with Image.open(shot) as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = np.asarray(image.convert("RGB"))
    packed = (pixels[..., 0].astype(np.uint32) << 16) | (pixels[..., 1].astype(np.uint32) << 8)
    colours = np.unique(packed | pixels[..., 2])
    assert len(colours) > 500, f"only {len(colours)} colours: the page looks blank"
    ink = (pixels < 235).any(axis=2).mean()
    assert ink > 0.05, f"only {ink:.1%} of the page is not white"
    # The grade bars use the report's palette: AAA green and C red are on the page.
    for colour in ((0x1A, 0x98, 0x50), (0xD7, 0x30, 0x27)):
        assert (pixels == colour).all(axis=2).sum() > 500
