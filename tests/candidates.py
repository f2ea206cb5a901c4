"""Candidates that tests set against what ships: a changed rule set and a challenger model."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine import synth
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.modelops import TrainingConfig, train, write_model
from engine.recordframe import validate_frame
from engine.scoring import compute, load_catalogue

ROOT = Path(__file__).resolve().parent.parent
SCALE = load_tables(EngineConfig.at(ROOT)).scale
CHALLENGER_NAMES = ["overdue_bills", "max_days_overdue", "social_credit_rating", "log_consumption"]


def narrowed_candidate(folder: Path) -> Path:
    """The shipped rules with the AAA band narrowed and deposits extended to grade B."""
    shutil.copytree(ROOT / "rules", folder)
    grades = folder / "grades.yaml"
    text = grades.read_text()
    text = text.replace("when: {pd: {lt: 0.015}}", "when: {pd: {lt: 0.01}}")
    text = text.replace("when: {pd: {ge: 0.015, lt: 0.03}}", "when: {pd: {ge: 0.01, lt: 0.03}}")
    grades.write_text(text)
    policies = folder / "service-policies.yaml"
    policies.write_text(policies.read_text().replace(
        "    when: {grade: C}\n    then:\n      - policy: security_deposit",
        "    when: {grade: [B, C]}\n    then:\n      - policy: security_deposit"))
    return folder


def registry_text(challenger: str | None) -> str:
    text = (ROOT / "models" / "registry.yaml").read_text(encoding="utf-8")
    if challenger is None:
        return text
    return text.replace("    artifact: residential.json\n",
                        f"    artifact: residential.json\n    challenger: {challenger}\n")


def train_challenger(folder: Path, names: list[str], segment: str = "residential") -> str:
    catalogue = load_catalogue(ROOT / "models" / "indicators.yaml")
    frame = synth.generate(6_000, seed=51)
    accepted, _ = validate_frame(frame.drop(columns="default_12m"))
    mask = (accepted["customer_class"] == "residential").to_numpy()
    values = compute(accepted.loc[mask], catalogue, names)
    y = frame.loc[accepted.index[mask], "default_12m"].to_numpy()
    result = train(values, y, catalogue.subset(names), segment=segment, bands=SCALE,
                   config=TrainingConfig(folds=2, governance=False,
                                          model_id=f"{segment}-challenger"))
    name = f"{segment}-challenger.json"
    write_model(result, folder, name)
    return name
