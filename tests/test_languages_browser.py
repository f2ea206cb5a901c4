"""Chinese pages as a browser shows them: a zh-CN explanation and a zh-CN auditor report,
rendered in headless Chromium, are not blank and carry Chinese text."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from engine import synth
from engine.report.html import write_report
from tests.browser import INSTALL_HINT, find_chromium, image_states, page_text, screenshot
from tests.reportdata import CREATED, REJECTS, VERSIONS, make_decisions, sensitivity_frame

pytestmark = [pytest.mark.skipif(find_chromium() is None,
                                 reason=f"chromium not found; {INSTALL_HINT}"),
              pytest.mark.slow]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def zh_explanation(engine, tmp_path_factory):
    population = synth.generate(40, seed=9).drop(columns=["default_12m"])
    decisions, _ = engine.decide_many(population)
    decision = max(decisions, key=lambda d: len(d.policies))
    path = tmp_path_factory.mktemp("explain") / "decision.zh-CN.html"
    path.write_text(engine.explain(decision, "html", lang="zh-CN"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory):
    decisions, labels = make_decisions(n=400, seed=5)
    path = tmp_path_factory.mktemp("report") / "report.zh-CN.html"
    return write_report(path, decisions, labels=labels, rejects=REJECTS,
                        sensitivity=sensitivity_frame(), versions=VERSIONS, created_at=CREATED,
                        lang="zh-CN")


def _text_region(shot, height: int) -> np.ndarray:
    with Image.open(shot) as image:
        return np.asarray(image.convert("RGB"))[:height]


@pytest.mark.parametrize("which", ["zh_explanation", "zh_report"])
def test_chinese_page_is_drawn_and_holds_chinese_text(which, request, tmp_path):
    page = request.getfixturevalue(which)
    text = page_text(page)
    assert len(CJK.findall(text)) > 100, text[:500]
    heading = "主要原因" if which == "zh_explanation" else "区分能力与校准"
    assert heading in text
    pixels = _text_region(screenshot(page, tmp_path / "shot.png", width=1000, height=1400),
                          400)
    ink = (pixels < 200).any(axis=2)
    assert ink.mean() > 0.01, f"only {ink.mean():.2%} of the heading area is drawn"
    rows = np.flatnonzero(ink.any(axis=1))
    assert len(rows) > 40, "too few lines of text were drawn"
    greys = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(greys) > 30, "the text area is nearly uniform: no glyphs were drawn"


def test_chinese_report_charts_load(zh_report):
    states = image_states(zh_report)
    assert [s["alt"] for s in states] == ["信用等级分布", "各类客户的违约概率分布", "ROC与KS",
                                          "各等级实际违约率", "按信用等级和细分的服务策略",
                                          "敏感性分析", "按客户类别的差异"]
    assert all(s["complete"] and s["width"] > 300 for s in states)
