"""The auditor report and the service-quality report as headless Chromium shows them, in
English and Chinese: every section is on the page, the zero-hit rules are listed, and the
screenshot holds charts and text (set GRIDCREDIT_SCREENSHOTS to a folder to keep them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import synth
from engine.audit.log import open_log
from engine.batch.decide import decide_frame
from engine.collections.synthetic import generate_events
from engine.config import EngineConfig
from engine.events.processor import EventProcessor
from engine.events.replay import replay
from engine.modelops.monitoring import monitor_registry
from engine.report.auditinputs import payments_of
from engine.report.html import write_report
from engine.report.inputs import labels_from
from engine.report.rulehits import rule_hits
from engine.report.servicequality import write_service_quality
from engine.servicequality.evaluation import evaluate, service_policies
from engine.servicequality.surveys import validate_surveys
from tests.browser import INSTALL_HINT, find_chromium, page_text, screenshot

pytestmark = [pytest.mark.skipif(find_chromium() is None,
                                 reason=f"chromium not found; {INSTALL_HINT}"),
              pytest.mark.slow]

HEADINGS = {
    "en": {"auditor": ["Calibration in words", "Rule hits", "Overrides and their outcomes",
                       "Disparity by customer class and segment",
                       "Stability against the training population", "Service quality",
                       "Payment events and collections", "Collection cases on", "Provenance"],
           "service": ["Surveys read", "Gap per dimension", "Gap per dimension by grade",
                       "Sensitivity", "Change against the baseline",
                       "Service policies and the gap"]},
    "zh-CN": {"auditor": ["校准情况说明", "规则命中", "等级调整及其结果", "按客户类别和细分的差异",
                          "相对训练总体的稳定性", "服务质量", "缴费事件与催收", "的催收案件",
                          "来源"],
              "service": ["读取的问卷", "各维度差距", "按信用等级的各维度差距", "敏感度",
                          "与基期相比的变化", "服务策略与差距"]},
}


def _logged_payments(engine, customers, decisions, folder: Path):
    """Twelve months of bills and payments of ``customers`` through the event rules into a
    log, and the report's payment section read back from it."""
    events = folder / "events.parquet"
    generate_events(customers, end=synth.DEFAULT_AS_OF, seed=43).to_parquet(events)
    db = str(folder / "log.sqlite")
    processor = EventProcessor.open(db, engine.config.rules_dir / "events.yaml")
    replay(events, processor)
    processor.store.close()
    with open_log(db, create=False) as log:
        return payments_of(engine, decisions, log)


@pytest.fixture(scope="module")
def pages(engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    population = synth.generate(1_200, seed=41)
    customers = population.drop(columns=["default_12m"])
    decisions, _ = decide_frame(engine, customers)
    hits = rule_hits(engine, customers)
    before = validate_surveys(synth.generate_surveys(decisions.assign(policies=""), "2026-Q1",
                                                     wave=0))[0]
    after = validate_surveys(synth.generate_surveys(decisions, "2026-Q3", wave=1))[0]
    quality = evaluate(after, decisions, baseline=before,
                       policies=service_policies(engine.catalogue))
    stability = monitor_registry(engine.registry, engine.bands, synth.generate(1_200, seed=42),
                                 customers)
    templates = EngineConfig.at().templates_dir
    payments = _logged_payments(engine, population.head(60), decisions, folder)
    out = {}
    for lang in ("en", "zh-CN"):
        out[(lang, "auditor")] = write_report(
            folder / f"report.{lang}.html", decisions, labels=labels_from(decisions, population),
            rule_hits=hits, stability=stability, service_quality=quality, payments=payments,
            policy_titles={p.id: p.title for p in engine.catalogue}, lang=lang,
            languages=engine.explainer.languages, templates_dir=templates)
        out[(lang, "service")] = write_service_quality(
            folder / f"service-quality.{lang}.html", quality, templates_dir=templates, lang=lang,
            languages=engine.explainer.languages)
    return out, hits


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("kind", ["auditor", "service"])
def test_each_report_shows_every_section_in_its_language(pages, lang, kind, tmp_path):
    found, hits = pages
    page = found[(lang, kind)]
    text = " ".join(page_text(page).split())
    for heading in HEADINGS[lang][kind]:
        assert heading in text, heading
    if kind == "auditor":
        zero = hits[hits["customers"] == 0]["rule"].tolist()
        assert zero and all(rule in text for rule in zero)
    shot = screenshot(page, tmp_path / f"{kind}.{lang}.png", height=6000)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (6000, 1200)
    assert pixels.std() > 20 and (pixels < 100).mean() > 0.01  # text and charts, not a blank
    keep = os.environ.get("GRIDCREDIT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
