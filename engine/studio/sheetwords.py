"""The words a workbook is laid out with, in English and Chinese, and how import reads either.

A workbook exported for zh-CN names its sheets, its table fields, the parts of
its columns and its example headers in Chinese, and explains the notation in
Chinese; the values in the cells (the notation, field names, rule ids) are the
same in both, so the tables are the same. Import accepts both languages'
words in any mix (``english``), so a workbook can go from one desk to another.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOTATION_NOTES", "NOTATION_ROWS", "ZH", "english", "example_header", "header_note",
           "sheet_word", "split_example_header", "word"]

# English word -> the Chinese one, for every structural word of the layout.
ZH: dict[str, str] = {
    "About": "说明",
    "Notation": "写法",
    "Other files": "其他文件",
    "gridcredit decision tables": "gridcredit 决策表",
    "table set": "决策表集",
    "content hash": "内容哈希",
    "sheet": "工作表",
    "file header": "文件开头注释",
    "table": "表名",
    "file": "文件",
    "version": "版本",
    "hit_policy": "命中策略",
    "description": "描述",
    "rule": "规则",
    "when": "条件",
    "then": "结果",
    "note": "备注",
    "id": "编号",
    "source": "来源",
    "priority": "优先级",
    "examples": "示例",
    "given": "给定",
    "expect": "期望",
    "at (file:line)": "位置（文件:行）",
    "text (copied verbatim; edit these files as YAML)":
        "原文（照原样复制；请以 YAML 编辑这些文件）",
    "written": "写法",
    "means": "含义",
    "YAML": "YAML",
}
_EN = {zh: en for en, zh in ZH.items()}

NOTATION_ROWS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "en": (
        ("written", "means", "YAML"),
        ("(empty)", "no condition on this field", "(key absent)"),
        ("residential", "equals", "residential"),
        ("AAA, AA", "one of", "[AAA, AA]"),
        ("[AA]", "a list of one value", "[AA]"),
        ("< 0.015", "less than", "{lt: 0.015}"),
        ("≤ 30", "at most (also <=)", "{le: 30}"),
        ("> 1500", "more than", "{gt: 1500}"),
        ("≥ 30", "at least (also >=)", "{ge: 30}"),
        ("= 30", "equals (operator form)", "{eq: 30}"),
        ("not residential", "anything but", "{ne: residential}"),
        ("not AAA, AA", "none of", "{not_in: [AAA, AA]}"),
        ("in AAA, AA", "one of (operator form)", "{in: [AAA, AA]}"),
        ("≥ 0.015 and < 0.03", "both conditions", "{ge: 0.015, lt: 0.03}"),
        ("from previous_grade", "an output copying an input", "{from: previous_grade}"),
        ("security_deposit(months=3)", "a policy with params, one per line", "policy: ..."),
        ("true / false", "yes or no fields", "true / false"),
        ("when: {} (in the note column)", "a rule written with an empty when:", "when: {}"),
        ("{lt: 0.015}", "any YAML flow value, as in the file", "{lt: 0.015}"),
    ),
    "zh-CN": (
        ("写法", "含义", "YAML"),
        ("（留空）", "该字段不设条件", "（不写该键）"),
        ("residential", "等于", "residential"),
        ("AAA, AA", "其中之一", "[AAA, AA]"),
        ("[AA]", "只含一个值的列表", "[AA]"),
        ("< 0.015", "小于", "{lt: 0.015}"),
        ("≤ 30", "不超过（也可写 <=）", "{le: 30}"),
        ("> 1500", "大于", "{gt: 1500}"),
        ("≥ 30", "不少于（也可写 >=）", "{ge: 30}"),
        ("= 30", "等于（运算符写法）", "{eq: 30}"),
        ("not residential", "除此以外的任何值", "{ne: residential}"),
        ("not AAA, AA", "都不是", "{not_in: [AAA, AA]}"),
        ("in AAA, AA", "其中之一（运算符写法）", "{in: [AAA, AA]}"),
        ("≥ 0.015 and < 0.03", "两个条件同时成立", "{ge: 0.015, lt: 0.03}"),
        ("from previous_grade", "输出照抄一个输入", "{from: previous_grade}"),
        ("security_deposit(months=3)", "带参数的政策，每行一个", "policy: ..."),
        ("true / false", "是或否的字段", "true / false"),
        ("when: {}（写在备注列）", "规则写成空的 when:", "when: {}"),
        ("{lt: 0.015}", "文件中的任何 YAML 流式写法", "{lt: 0.015}"),
    ),
}
NOTATION_NOTES: dict[str, tuple[str, ...]] = {
    "en": (
        "Each table sheet keeps its table's name; do not rename sheets, merge cells or use "
        "formulas: type values.",
        "Numbers are typed as written: 30 is a whole number, 30.0 a decimal.",
        "Rows: one rule each, in order (for hit_policy first the order decides). Columns under "
        "'when' are the table's inputs, under 'then' its outputs or policies.",
        "A blank row inside a table is skipped (import names it); write notes in the note "
        "column, anything outside the table's columns is refused.",
        "Import checks the workbook with the same loader as gridcredit rules check and names "
        "each problem as sheet!cell.",
    ),
    "zh-CN": (
        "每张决策表的工作表保留表名；不要改工作表名、合并单元格或使用公式：请直接填写值。",
        "数字照写：30 是整数，30.0 是小数。",
        "每行一条规则，按顺序排列（命中策略为 first 时顺序决定结果）。“条件”下的列是表的输入，"
        "“结果”下的列是输出或政策。",
        "表中的空行会被跳过（导入时会指出）；备注请写在备注列，表格列以外的内容会被拒绝。",
        "导入时用与 gridcredit rules check 相同的加载器检查工作簿，"
        "每个问题都以“工作表!单元格”指出。",
    ),
}


def word(english_word: str, lang: str) -> str:
    """A structural word in ``lang`` (en or zh-CN)."""
    return ZH.get(english_word, english_word) if lang == "zh-CN" else english_word


def sheet_word(english_word: str, sheetnames: list[str]) -> str | None:
    """The name a workbook gives one of the fixed sheets (About, Notation ...), either language."""
    for name in (english_word, ZH.get(english_word)):
        if name in sheetnames:
            return name
    return None


def english(text: str) -> str:
    """A structural word read from a cell, as its English key (either language is read)."""
    return _EN.get(text.strip(), text.strip())


def split_example_header(text: str) -> tuple[str, str]:
    """``given: F`` / ``给定：F`` -> (``given``, ``F``); a plain word -> (its key, "")."""
    for mark in (": ", "：", ":"):
        part, found, rest = text.partition(mark)
        if found and english(part) in ("given", "expect"):
            return english(part), rest.strip()
    return english(text), ""


def example_header(part: str, name: str, lang: str) -> str:
    return f"{word(part, lang)}：{name}" if lang == "zh-CN" else f"{part}: {name}"


def header_note(spec: Any, part: str, lang: str) -> str:
    """The note on a column header: what the field holds and how to write it."""
    zh = lang == "zh-CN"
    if spec is None:
        return ""
    unit = f" ({spec.unit})" if spec.unit not in ("", "-") and not zh else (
        f"（{spec.unit}）" if spec.unit not in ("", "-") else "")
    if spec.kind in ("int", "float"):
        if part == "then":
            return (f"数字{unit}。" if zh else f"A number{unit}.")
        return (f"数字{unit}。写比较：< 0.015、≥ 30、≥ 0.015 and < 0.03；留空表示不设条件。" if zh
                else f"A number{unit}. Write a comparison: < 0.015, ≥ 30, ≥ 0.015 and < 0.03; "
                     "empty means no condition.")
    if spec.kind == "bool":
        return "true 或 false；留空表示不设条件。" if zh else \
            "true or false; empty means no condition."
    if spec.choices:
        values = ("、" if zh else ", ").join(spec.choices)
        if part == "then":
            return f"取值之一：{values}。" if zh else f"One of: {values}."
        return (f"取值之一：{values}。可写一个值、多个值（a, b）或 not a；留空表示不设条件。" if zh
                else f"One of: {values}. Write one value, several (a, b) or not a; empty means "
                     "no condition.")
    return ""
