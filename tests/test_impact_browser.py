"""The impact report as a browser shows it: headless Chromium loads both charts at their own
size, and the page reads with thousands separators, the findings and the changed rules."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from tests.browser import INSTALL_HINT, find_chromium, image_states, page_text, png_size
from tests.candidates import ROOT, narrowed_candidate

pytestmark = [pytest.mark.skipif(find_chromium() is None,
                                 reason=f"chromium not found; {INSTALL_HINT}"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("impact")
    source = folder / "pop.parquet"
    synth.generate(8_000, seed=21).drop(columns=["default_12m"]).to_parquet(source)
    out = folder / "impact.html"
    result = CliRunner().invoke(app, [
        "rules", "impact", "--baseline", str(ROOT / "rules"), "--candidate",
        str(narrowed_candidate(folder / "cand")), "--population", str(source), "--out", str(out),
        "--allow-findings", "--tariff", "0.1"])
    assert result.exit_code == 0, result.output
    return out


def test_both_charts_load_at_their_own_size(report):
    embedded = [base64.b64decode(b) for b in
                re.findall(r'src="data:image/png;base64,([^"]+)"', report.read_text())]
    states = image_states(report)
    assert [s["alt"] for s in states] == ["Grade transitions", "Policies gained and lost"]
    assert all(s["complete"] for s in states)
    assert [(s["width"], s["height"]) for s in states] == [png_size(p) for p in embedded]
    assert all(s["width"] > 300 and s["height"] > 150 for s in states)


def test_the_page_reads_with_separators_findings_and_the_diff(report):
    text = " ".join(page_text(report).split())
    assert "8,000 rows in" in text and "8,000 customers decided (0 rejected)" in text
    assert "The candidate has 2 rules check findings" in text
    assert "arrears-bar-top-grade: caps at AA" in text
    assert 'when grade: "C" -> ["B", "C"]' in text
    listed = pd.read_csv(report.with_name("impact.html.affected.csv"), keep_default_na=False)
    gained = listed["gained"].str.contains("security_deposit").sum()
    assert gained > 1_000
    assert re.search(rf"security_deposit [\d,]+ [\d,]+ {gained:,} 0", text), text
