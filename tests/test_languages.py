"""Explanations in zh-CN and en, for auditors and customers, in plain words.

Every message (code, templates, knowledge files) has its translation; every
template renders in both languages and both audiences for decisions that
between them receive every policy of the catalogue; Chinese output keeps no
English beyond ids, paths and codes; the customer notice never names an
internal rule; reasons read in words and units, the right way round, with a
currency; unknown languages and broken translations are refused.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load
from engine.decision import EventOutcome, Reason
from engine.errors import ConfigError, InputError, LanguageError
from engine.explanation import AUDIENCES, FORMATS
from engine.language import LANGUAGES, check_placeholders, load_languages, negotiate, parse_language
from engine.reasons import MAX_REASONS, PHRASES, principal_reasons
from engine.scoring import load_catalogue as load_indicators
from engine.statements import LEGAL_NOTICES
from engine.translations import messages, missing

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "policies" / "locale" / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def cover(engine):
    """A few decisions that between them receive every policy, an override and events."""
    population = synth.generate(600, seed=5).drop(columns=["default_12m"])
    decisions, _ = engine.decide_many(population)
    wanted = {p.id for p in engine.catalogue}
    chosen = []
    while wanted:
        best = max(decisions, key=lambda d: len(wanted & set(d.policy_ids)))
        chosen.append(best)
        wanted -= set(best.policy_ids)
    chosen.append(next(d for d in decisions if d.grade.override))
    event = EventOutcome(kind="rebate_earned", rule_id="overdue-rebate",
                         reason="An overdue bill repaid in full within the rebate window "
                         "after its due date earns back part of the late-payment penalty "
                         "charged, up to a cap, and improves the credit.",
                         event_ids=("repayment-1",), valid_from="2026-01-05",
                         valid_until="2027-01-05", amount=12.5)
    chosen.append(chosen[0].model_copy(update={"events": (event,)}))
    return chosen


def _allowed(engine, decision) -> list[str]:
    """What zh-CN output may keep in Latin letters: ids, paths, codes, hashes."""
    words = {decision.decision_id, decision.customer_id, decision.score.model_id, "sha256",
             "kWh"}
    words |= {h.rule_id for h in decision.trace} | {h.file for h in decision.trace}
    words |= {decision.grade.rule_id, decision.grade.file}
    words |= {p.policy_id for p in decision.policies} | {p.rule_id for p in decision.policies}
    words |= {p.file for p in decision.policies}
    words |= {k for p in decision.policies for k in p.params}
    words |= {r.indicator for r in decision.score.reasons}
    words |= {str(v) for v in decision.segments.values()}
    for e in decision.events:
        words |= {e.rule_id, *e.event_ids}
    return sorted(words, key=len, reverse=True)


def _english_left(text: str, allowed: list[str]) -> list[str]:
    for word in allowed:
        text = text.replace(word, " ")
    text = re.sub(r"[0-9a-f]{16}", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ("AAA", "AA", "CN")]


def test_every_message_has_a_chinese_translation():
    found = messages(ROOT)
    assert len(found) > 250
    where = {m.file.split("/")[0] for m in found}
    assert where == {"engine", "policies", "rules", "models"}
    lacking = missing(load_languages(ROOT / "policies" / "locale"), ROOT)
    assert lacking["en"] == []
    assert lacking["zh-CN"] == [], "\n".join(str(m) for m in lacking["zh-CN"])


def test_a_missing_translation_is_named_with_its_file_and_line(tmp_path):
    locale = tmp_path / "locale"
    shutil.copytree(ROOT / "policies" / "locale", locale)
    po = locale / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
    po.write_text(po.read_text().replace('msgstr "计量装置未按期校验"', 'msgstr ""'))
    lacking = missing(load_languages(locale), ROOT)["zh-CN"]
    assert [m.id for m in lacking] == ["meter not calibrated on schedule"]
    assert str(lacking[0]).startswith("engine/reasons.py:")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_template_renders_for_decisions_covering_every_policy(engine, cover, lang,
                                                                    audience, fmt):
    for decision in cover:
        legal = LEGAL_NOTICES.get(audience)
        if legal is not None and legal not in decision.policy_ids:
            with pytest.raises(InputError, match=f"carries no {legal}"):
                engine.explain(decision, fmt, lang=lang, audience=audience)
            continue
        text = engine.explain(decision, fmt, lang=lang, audience=audience)
        assert decision.customer_id in text
        assert "z =" not in text and " z " not in text
        if lang == "zh-CN":
            assert CJK.search(text)
            left = _english_left(text if fmt != "html" else _visible(text),
                                 _allowed(engine, decision))
            assert left == [], f"{audience} {fmt}: English left: {sorted(set(left))}"
        if audience != "auditor":
            for rule in {h.rule_id for h in decision.trace} | {decision.grade.rule_id}:
                assert not re.search(rf"(?<![\w-]){re.escape(rule)}(?![\w-])", text), rule
            assert "rules/" not in text and ".yaml" not in text
            assert decision.tables.content_hash[:16] not in text
        else:
            for p in decision.policies:
                assert f"{p.file}:{p.line}" in text
            assert decision.tables.version in text


def _visible(html: str) -> str:
    """The text a reader sees: tags, the stylesheet and the font names dropped."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'")


def test_the_auditor_explanation_names_the_rule_behind_every_segment(engine, cover):
    decision = cover[0]
    text = engine.explain(decision, "text", lang="en")
    for name in decision.segments:
        hit = next(h for h in decision.trace if name in h.sets)
        assert f"set by rule '{hit.rule_id}' at {hit.file}:{hit.line}" in text
    zh = engine.explain(decision, "text", lang="zh-CN")
    assert "由规则 'residential" in zh or "由规则 '" in zh


def test_every_indicator_reads_in_words_in_both_languages(engine, cover):
    names = load_indicators(ROOT / "models" / "indicators.yaml").names()
    assert sorted(names) == sorted(PHRASES)
    base = cover[0]
    for name in names:
        reason = Reason(indicator=name, group="payment behaviour", value=1, contribution=0.5,
                        description="-")
        decision = base.model_copy(update={"score": base.score.model_copy(
            update={"reasons": (reason,)})})
        en = principal_reasons(decision, engine.explainer.language("en"))[0].text
        zh = principal_reasons(decision, engine.explainer.language("zh-CN"))[0].text
        assert en and zh and en != zh, name
        assert CJK.search(zh) and not re.search(r"[A-Za-z]{3,}", zh.replace("kWh", "")), zh


def test_reasons_are_words_and_units_the_right_way_round(engine, cover):
    base = cover[0]
    reasons = (Reason(indicator="overdue_bills", group="payment behaviour", value=3,
                      contribution=0.9, description="-"),
               Reason(indicator="calibration_on_schedule", group="management", value=0,
                      contribution=0.4, description="-"),
               Reason(indicator="overdue_to_bill", group="payment behaviour", value=2.25,
                      contribution=0.2, description="-"))
    decision = base.model_copy(update={
        "score": base.score.model_copy(update={"reasons": reasons}),
        "inputs": {**base.inputs, "overdue_bills_12m": 3, "calibration_on_schedule": False,
                   "overdue_amount": 1234.5}})
    en = [r.text for r in principal_reasons(decision, engine.explainer.language("en"))]
    assert en == ["3 overdue bills in the last 12 months", "meter not calibrated on schedule",
                  "CN¥1,234.50 of overdue charges still unpaid"]
    zh = [r.text for r in principal_reasons(decision, engine.explainer.language("zh-CN"))]
    assert zh == ["近12个月有3张账单逾期缴费", "计量装置未按期校验",
                  "尚有¥1,234.50逾期电费未缴"]
    on = decision.model_copy(update={"inputs": {**decision.inputs,
                                                "calibration_on_schedule": True}})
    assert principal_reasons(on, engine.explainer.language("en"))[1].text == \
        "meter calibrated on schedule"


def test_at_most_four_reasons_ranked_each_one_scored(engine, cover):
    for decision in cover:
        reasons = principal_reasons(decision, engine.explainer.language("en"))
        scored = {r.indicator: r.contribution for r in decision.score.reasons}
        assert len(reasons) <= MAX_REASONS
        assert [r.rank for r in reasons] == list(range(1, len(reasons) + 1))
        assert all(r.indicator in scored and scored[r.indicator] > 0 for r in reasons)
        weights = [scored[r.indicator] for r in reasons]
        assert weights == sorted(weights, reverse=True)


def test_durations_and_counts_read_naturally(engine):
    en, zh = engine.explainer.language("en"), engine.explainer.language("zh-CN")
    assert engine.explainer.policy_text("fast_response_service", {
        "answer_target_hours": 1.0, "resolve_target_hours": 1.5}, lang="en") == \
        "Requests are answered within 1 hour and resolved within 1.5 hours."
    assert engine.explainer.policy_text("on_site_inspection", {
        "visits_per_year": 1, "collect_fees": False}, lang="en") == \
        "Inspectors visit the site once a year to check metering and use."
    assert en.duration(30, "days") == "30 days" and zh.duration(30, "days") == "30天"
    assert en.duration(1, "hours") == "1 hour" and zh.duration(24, "hours") == "24小时"


def test_the_customer_notice_shows_the_rebate_path_and_the_review(engine, cover):
    decision = next(d for d in cover if (d.inputs.get("overdue_amount") or 0) > 0)
    en = engine.explain(decision, "text", lang="en", audience="customer")
    assert "Repay the overdue charges within 30 days of the due date: 50% of the late-payment " \
           "penalty is then returned to you (up to CN¥500.00)" in en
    assert "Pay every bill by its due date" in en
    assert f"Contact 95598 and quote reference {decision.decision_id}" in en
    zh = engine.explain(decision, "text", lang="zh-CN", audience="customer")
    assert "在到期日后30天内缴清逾期电费：退还50%的违约金（最多¥500.00）" in zh
    assert "申请人工复核" in zh and decision.decision_id in zh


def test_the_currency_is_configurable(tmp_path, cover):
    engine = load(EngineConfig.at(ROOT, currency="HKD"))
    decision = next(d for d in cover if (d.inputs.get("overdue_amount") or 0) > 0)
    assert "HK$" in engine.explain(decision, "text", lang="en", audience="customer")
    with pytest.raises(ConfigError, match="unknown currency 'XYZ': use an ISO 4217 code"):
        load(EngineConfig.at(ROOT, currency="XYZ"))


def test_the_project_default_language_comes_from_the_config(cover, monkeypatch):
    monkeypatch.setenv("GRIDCREDIT_LANG", "zh-CN")
    engine = load(EngineConfig.at(ROOT))
    assert engine.config.language == "zh-CN"
    assert "信用等级" in engine.explain(cover[0], "text")
    assert "GRADE" in engine.explain(cover[0], "text", lang="en")


def test_languages_are_parsed_and_negotiated():
    assert parse_language("zh_cn") == "zh-CN" and parse_language("EN") == "en"
    assert parse_language(None, "zh-CN") == "zh-CN"
    with pytest.raises(LanguageError, match=r"unknown language 'fr': use one of zh-CN, en"):
        parse_language("fr")
    assert negotiate("fr-FR, zh;q=0.8, en;q=0.5") == "zh-CN"
    assert negotiate("en-GB,en;q=0.9") == "en"
    assert negotiate("zh-TW", "en") == "en"
    assert negotiate(None, "zh-CN") == "zh-CN"
    assert negotiate("en;q=0, zh-Hans;q=0.1") == "zh-CN"


def test_placeholders_are_checked():
    assert check_placeholders("%(num)s bills", "%(num)s张账单") is None
    assert "placeholder %(nmu)s is not in the source text (it has %(num)s)" in \
        check_placeholders("%(num)s bills", "%(nmu)s张账单")
    assert "write %(name)s, or %% for a per cent sign" in \
        check_placeholders("%(share)s a day", "每天%(share)s %")
    assert check_placeholders("PD below 1.5 % is AAA.", "违约概率低于1.5%为AAA级。") is None


def test_a_broken_placeholder_is_refused_by_rules_check_with_file_and_line(tmp_path):
    home = tmp_path / "home"
    shutil.copytree(ROOT / "policies", home / "policies")
    po = home / "policies" / "locale" / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
    lines = po.read_text().splitlines()
    good = 'msgstr "由规则 %(rule)s（%(place)s）确定"'
    line = next(i for i, t in enumerate(lines, 1) if t == good)
    lines[line - 1] = 'msgstr "由规则 %(rules)s（%(place)s）确定"'
    po.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["rules", "check", str(ROOT / "rules"),
                                 "--catalogue", str(home / "policies" / "catalogue.yaml")])
    assert result.exit_code == 2
    assert f"{po}:{line}: translation of \"set by rule %(rule)s at %(place)s\": placeholder " \
           "%(rules)s is not in the source text (it has %(place)s, %(rule)s)" in result.output


def test_cli_chooses_language_and_audience_and_refuses_unknown_ones(engine, cover, tmp_path):
    path = tmp_path / "decision.json"
    path.write_text(cover[0].to_json())
    zh = runner.invoke(app, ["explain", str(path), "--lang", "zh-CN"])
    assert zh.exit_code == 0 and "信用等级 " + cover[0].grade.grade in zh.stdout
    notice = runner.invoke(app, ["explain", str(path), "--audience", "customer", "--format",
                                 "md"])
    assert notice.exit_code == 0 and "# Notice of your credit grade" in notice.stdout
    bad = runner.invoke(app, ["explain", str(path), "--lang", "fr"])
    assert bad.exit_code == 2
    assert "unknown language 'fr': use one of zh-CN, en" in bad.output
    bad = runner.invoke(app, ["explain", str(path), "--audience", "press"])
    assert bad.exit_code == 2
    assert "unknown audience 'press': use one of auditor, customer" in bad.output


def test_service_chooses_language_by_query_or_header_and_refuses_unknown_ones(engine,
                                                                              tmp_path):
    from fastapi.testclient import TestClient

    from engine.service import Settings, create_app
    from engine.service.auth import add_key

    keys = tmp_path / "keys.yaml"
    key = {"Authorization": "Bearer " + add_key(keys, "ops", ["decide", "audit"])}
    record = {k: v for k, v in synth.generate(5, seed=3).drop(columns=["default_12m"])
              .iloc[0].to_dict().items() if v == v and v is not None}
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"), keys_file=keys)
    with TestClient(create_app(settings, engine=engine)) as client:
        decided = client.post("/v1/decisions", json=record, headers=key).json()
        url = f"/v1/decisions/{decided['decision_id']}/explanation"
        zh = client.get(url, params={"lang": "zh-CN", "format": "html"}, headers=key)
        assert zh.status_code == 200 and zh.headers["content-language"] == "zh-CN"
        assert '<html lang="zh-CN">' in zh.text and "主要原因" in zh.text
        header = client.get(url, headers={**key, "Accept-Language": "zh-CN,zh;q=0.9"})
        assert header.headers["content-language"] == "zh-CN" and "信用等级" in header.text
        en = client.get(url, params={"lang": "en"}, headers={**key, "Accept-Language": "zh"})
        assert en.headers["content-language"] == "en" and "GRADE" in en.text
        notice = client.get(url, params={"audience": "customer", "lang": "zh-CN"}, headers=key)
        assert notice.status_code == 200 and "申请人工复核" in notice.text
        assert decided["grade"]["rule_id"] not in notice.text
        bad = client.get(url, params={"lang": "fr"}, headers=key)
        assert bad.status_code == 422
        assert bad.json()["code"] == "unsupported_language"
        assert bad.json()["message"] == "unknown language 'fr': use one of zh-CN, en"
        assert bad.json()["details"] == [{"path": "language", "value": "fr",
                                          "supported": ["zh-CN", "en"],
                                          "message": bad.json()["message"]}]
        bad = client.get(url, params={"audience": "press"}, headers=key)
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
        assert bad.json()["details"][0]["value"] == "press"
        assert ("Input should be 'auditor', 'customer', 'liability-notice' or 'cut-warning'"
                in bad.json()["message"])


def test_the_auditor_report_speaks_chinese_and_labels_its_charts_in_chinese():
    from engine.report import charts
    from engine.report.html import build_report
    from tests.reportdata import CREATED, make_decisions

    decisions, labels = make_decisions(n=200, seed=4)
    zh = build_report(decisions, labels=labels, created_at=CREATED, lang="zh-CN")
    en = build_report(decisions, labels=labels, created_at=CREATED, lang="en")
    assert '<html lang="zh-CN">' in zh and "区分能力与校准" in zh and "居民" in zh
    assert "Discrimination and calibration" in en and "区分" not in en
    assert 'id="chart-font"' not in zh
    if charts.cjk_font() is None:
        pytest.skip("no CJK font on this machine: apt-get install fonts-noto-cjk")
    counts = {"AAA": 3, "B": 1}
    zh_png = charts.grade_distribution_chart(counts, lang=charts.chart_language(
        load_languages(ROOT / "policies" / "locale").get("zh-CN")))
    assert zh_png != charts.grade_distribution_chart(counts)


def test_without_a_cjk_font_charts_fall_back_to_english_with_a_warning(monkeypatch):
    from engine.report import charts
    from engine.report.html import build_report
    from tests.reportdata import CREATED, make_decisions

    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    decisions, _ = make_decisions(n=120, seed=6)
    with pytest.warns(charts.MissingFontWarning,
                      match=r"no CJK font found: charts are labelled in English; install one "
                            r"\(apt-get install fonts-noto-cjk\)"):
        html = build_report(decisions, created_at=CREATED, lang="zh-CN")
    assert 'id="chart-font"' in html and "生成本报告的机器上没有中文字体" in html
    zh = load_languages(ROOT / "policies" / "locale").get("zh-CN")
    with pytest.warns(charts.MissingFontWarning):
        assert charts.chart_language(zh).tag == "en"


def test_cli_report_in_chinese_and_its_font_warning(tmp_path, monkeypatch):
    from engine.report import charts
    from tests.reportdata import make_decisions

    decisions, _ = make_decisions(n=120, seed=7)
    source = tmp_path / "decisions.parquet"
    decisions.to_parquet(source)
    out = tmp_path / "report.html"
    done = runner.invoke(app, ["report", "--decisions", str(source), "--out", str(out),
                               "--lang", "zh-CN"])
    assert done.exit_code == 0, done.output
    assert "审计报告" in out.read_text()
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    again = runner.invoke(app, ["report", "--decisions", str(source), "--out", str(out),
                                "--lang", "zh-CN", "--overwrite"])
    assert again.exit_code == 0
    assert "warning: no CJK font found: charts are labelled in English" in again.output
    bad = runner.invoke(app, ["report", "--decisions", str(source), "--out", str(out),
                              "--lang", "de", "--overwrite"])
    assert bad.exit_code == 2 and "unknown language 'de': use one of zh-CN, en" in bad.output


def test_the_workbench_has_a_word_for_every_field_operator_and_hit_policy():
    from jinja2.sandbox import SandboxedEnvironment

    from engine.conditions import OPERATORS
    from engine.records import FIELDS
    from engine.tables.model import HIT_POLICIES
    from engine.vocabulary import label, words

    languages = load_languages(ROOT / "policies" / "locale")
    zh, en = languages.get("zh-CN"), languages.get("en")
    for kind, codes in (("field", [f.name for f in FIELDS]), ("operator", OPERATORS),
                        ("hit policy", HIT_POLICIES)):
        assert set(codes) <= set(words(zh)[kind]), kind
        for code in codes:
            assert CJK.search(label(zh, kind, code)), (kind, code)
            assert label(en, kind, code) != code or kind == "field"
    assert label(zh, "field", "overdue_amount") == "逾期金额"
    env = zh.install(SandboxedEnvironment(autoescape=True))
    page = env.from_string("<h1>{% trans %}Summary{% endtrans %}</h1> {{ 12.5|money }}")
    assert page.render() == "<h1>概要</h1> ¥12.50"
    assert zh.labels(["Summary", "no such label"]) == {"Summary": "概要",
                                                       "no such label": "no such label"}


def test_impact_report_and_batch_summary_in_chinese(engine, tmp_path):
    from engine.batch.impact import compare
    from engine.tables import load_table_set

    rules = ROOT / "rules"
    shutil.copytree(rules, tmp_path / "cand")
    edited = tmp_path / "cand" / "service-policies.yaml"
    edited.write_text(edited.read_text().replace(
        "    when: {grade: C}\n    then:\n      - policy: security_deposit",
        "    when: {grade: [B, C]}\n    then:\n      - policy: security_deposit"))
    population = synth.generate(800, seed=12).drop(columns=["default_12m"])
    cand = load_table_set(tmp_path / "cand", engine.catalogue)
    impact = compare(engine, engine.tables, cand, population, tariff=0.1)
    zh = engine.explainer.language("zh-CN")
    md = impact.markdown(zh)
    assert md.startswith("# 规则修改影响分析\n")
    assert "security_deposit" in impact.policies["policy"].tolist()
    assert f"已决策{impact.decided}户客户" in md and "## 等级迁移（行：基准，列：候选）" in md
    assert "电费保证金 (security_deposit): 客户数" in md and "预期违约损失 | ¥" in md
    html = impact.html(zh)
    assert '<html lang="zh-CN">' in html and '<h2 id="workload">工作量与预期损失</h2>' in html
    assert "<td><code>lowest-grade-safeguards</code></td><td>修改</td>" in html
    assert impact.markdown().startswith("# Rule-change impact\n")
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    shown = runner.invoke(app, ["rules", "impact", "--baseline", str(rules), "--candidate",
                                str(tmp_path / "cand"), "--population", str(source),
                                "--lang", "zh-CN", "--allow-findings"])
    assert shown.exit_code == 0 and shown.stdout.startswith("# 规则修改影响分析"), shown.output
    assert "候选规则有1项规则检查问题" in shown.stderr
    decided = runner.invoke(app, ["decide", "--input", str(source), "--out",
                                  str(tmp_path / "d.parquet"), "--no-progress", "--lang",
                                  "zh-CN"])
    assert decided.exit_code == 0, decided.output
    assert decided.stdout.startswith("输入 800 行 = 已决策 800 行 + 已拒绝 0 行（")
    assert "各阶段用时：读取" in decided.stdout
