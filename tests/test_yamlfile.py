"""Every knowledge file goes through one YAML reader: same refusals, same file:line errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.errors import (
    ConfigError,
    EngineError,
    RecordError,
    TableSetError,
    YamlFileError,
    closest,
)
from engine.events.rules import load_event_rules
from engine.policies import load_catalogue as load_policies
from engine.records import validate_record
from engine.scoring import load_catalogue as load_indicators
from engine.scoring import read_spec
from engine.service.auth import read_keys
from engine.service.settings import Settings
from engine.tables import load_table_set
from engine.yamlfile import MAX_BYTES, LocatedMap, parse_yaml, read_yaml
from tests.factories import good

ROOT = Path(__file__).resolve().parents[1]
POLICIES = load_policies(ROOT / "policies" / "catalogue.yaml")
BOMB = (ROOT / "tests" / "data" / "tables" / "yaml-bomb.yaml").read_text()


def _table_file(tmp: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp / "rules")
    return tmp / "rules" / "segments.yaml"


def _policy_file(tmp: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp / "policies")
    return tmp / "policies" / "catalogue.yaml"


def _copy(source: str, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        shutil.copy(ROOT / source, tmp / name)
        return tmp / name
    return make


def _text(name: str, text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name
    return make


# kind -> (write a good file into a folder, read it the way the engine does)
KINDS: dict[str, tuple[Callable[[Path], Path], Callable[[Path], Any]]] = {
    "decision table": (_table_file, lambda p: load_table_set(p.parent, POLICIES)),
    "policy catalogue": (_policy_file, load_policies),
    "event rules": (_copy("rules/events.yaml", "events.yaml"), load_event_rules),
    "model registry": (_copy("models/registry.yaml", "registry.yaml"),
                       lambda p: read_spec(p.parent)),
    "indicator catalogue": (_copy("models/indicators.yaml", "indicators.yaml"),
                            load_indicators),
    "training spec": (_copy("tests/data/germancredit-indicators.yaml", "spec.yaml"),
                      load_indicators),
    "service settings": (_text("service.yaml", "batch_limit: 50\ndb: a.sqlite\n"),
                         lambda p: Settings.load(p, env={})),
    "api keys": (_text("keys.yaml", "keys:\n  - {name: ops, sha256: " + "ab" * 32
                       + ", roles: [audit]}\n"), read_keys),
}


def _first_key_line(text: str) -> str:
    return next(ln for ln in text.splitlines() if ln and not ln.startswith((" ", "#")))


def _spoil(text: str, how: str) -> tuple[bytes, int, str]:
    """The file spoilt one way, the line the error must name and words it must say."""
    lines = len(text.splitlines())
    if how == "duplicate key":
        dup = _first_key_line(text)
        return (text + dup + "\n").encode(), lines + 1, "appears twice in the same mapping"
    if how == "tab":
        return (text + "extra:\n\tvalue: 1\n").encode(), lines + 2, "indent with spaces, not tabs"
    if how == "alias bomb":
        return (text + BOMB).encode(), 0, "anchors and aliases"
    if how == "too big":
        filler = "# " + "x" * 98 + "\n"
        return (text + filler * (MAX_BYTES // 100 + 1)).encode(), 0, "at most 1,000,000 bytes"
    if how == "not utf-8":
        return text.encode() + b"# caf\xe9\n", lines + 1, "not UTF-8"
    raise AssertionError(how)


def _error(read: Callable[[Path], Any], path: Path) -> EngineError:
    with pytest.raises(EngineError) as info:
        read(path)
    return info.value


def test_every_good_knowledge_file_reads(tmp_path):
    for kind, (make, read) in KINDS.items():
        folder = tmp_path / kind.replace(" ", "-")
        folder.mkdir()
        assert read(make(folder)) is not None, kind


@pytest.mark.parametrize("how", ["duplicate key", "tab", "alias bomb", "too big", "not utf-8"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_refuses_bad_yaml_with_file_and_line(tmp_path, kind, how):
    make, read = KINDS[kind]
    path = make(tmp_path)
    text = path.read_text()
    data, line, words = _spoil(text, how)
    path.write_bytes(data)
    err = _error(read, path)
    assert isinstance(err, TableSetError if kind == "decision table" else YamlFileError)
    assert isinstance(err, ConfigError | TableSetError)
    assert err.file == str(path)
    if how == "alias bomb":  # refused inside the bomb, while expanding it
        assert len(text.splitlines()) < err.line <= len(data.splitlines())
    elif how == "too big":  # the line that holds the first byte past the limit
        assert err.line == data[:MAX_BYTES].count(b"\n") + 1
    else:
        assert err.line == line
    assert str(err).startswith(f"{path}:{err.line}: ")
    assert words in str(err)


@pytest.mark.parametrize("kind", ["policy catalogue", "event rules", "model registry",
                                  "indicator catalogue", "service settings"])
def test_a_missing_knowledge_file_is_refused_with_its_name(tmp_path, kind):
    make, read = KINDS[kind]
    path = make(tmp_path)
    path.unlink()
    err = _error(read, path)
    assert isinstance(err, ConfigError)
    assert err.file == str(path)
    assert str(err).startswith(f"{path}: ")


@pytest.mark.parametrize(("kind", "edit", "line", "suggestion"), [
    ("decision table", ("monthly_kwh: {gt: 1500}", "monthly_kwhh: {gt: 1500}"), 15,
     "monthly_kwh"),
    ("policy catalogue", ("    title:", "    titel:"), None, "title"),
    ("event rules", ("reads: theft_finding", "reads: theft_findng"), 48, "theft_finding"),
    ("model registry", ("[residential]", "[residental]"), 11, "residential"),
    ("indicator catalogue", ("group: payment behaviour", "group: payment behavior"), 18,
     "payment behaviour"),
    ("service settings", ("batch_limit:", "batch_limt:"), 1, "batch_limit"),
])
def test_did_you_mean_is_a_field_of_the_error(tmp_path, kind, edit, line, suggestion):
    make, read = KINDS[kind]
    path = make(tmp_path)
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    err = _error(read, path)
    assert err.suggestion == suggestion
    assert str(err).endswith(f"(did you mean '{suggestion}'?)")
    assert err.file == str(path)
    if line is not None:
        assert err.line == line


def test_a_record_field_typo_carries_its_suggestion():
    with pytest.raises(RecordError) as info:
        validate_record({**good(), "monthly_kwhh": 5})
    assert info.value.suggestion == "monthly_kwh"
    assert "(did you mean 'monthly_kwh'?)" in str(info.value)


@pytest.mark.parametrize(("word", "options", "expected"), [
    ("consumptoin_class", ["consumption_class", "pd"], "consumption_class"),
    ("pay", ["payment behaviour", "production"], "payment behaviour"),
    ("zzz", ["alpha", "beta"], None),
    ("", ["alpha"], None),
    (3, [1, 2, 3], "3"),
])
def test_closest(word, options, expected):
    assert closest(word, options) == expected


def test_located_values_keep_every_line():
    doc = parse_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n<<: {d: 4}\n", "f.yaml")
    assert isinstance(doc, LocatedMap)
    assert doc == {"a": 1, "b": ["x", {"c": 2}], "d": 4}
    assert (doc.line_of("a"), doc.line_of("b"), doc["b"].line_of(1), doc.line_of("d")) == (
        1, 2, 4, 5)


def test_comments_only_is_an_empty_document(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n\n")
    assert read_yaml(path) is None


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system [ls]",
                                   "!!python/name:os.system ''", "!custom {a: 1}"])
def test_python_and_custom_tags_are_refused_at_their_line(value):
    with pytest.raises(YamlFileError, match=r"^f.yaml:2: cannot read value") as info:
        parse_yaml(f"a: 1\nb: {value}\n", "f.yaml")
    assert info.value.line == 2


def test_text_held_in_memory_gets_the_size_limit_too():
    text = "a: 1\n" + ("# " + "x" * 98 + "\n") * (MAX_BYTES // 100 + 1)
    with pytest.raises(YamlFileError, match=r"^draft.yaml:\d+: .*at most 1,000,000 bytes") as info:
        parse_yaml(text, "draft.yaml")
    assert info.value.line == text.encode()[:MAX_BYTES].count(b"\n") + 1
