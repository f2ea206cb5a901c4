"""Which model scores which customer: ``models/registry.yaml``.

Enterprise customers (commercial, industrial, public) report financial ratios
and residential customers do not, so each group has its own model. The
registry names the artifact per segment and the classes it serves; loading it
loads and checks every artifact against the indicator catalogue, so a
mismatch is found at start, not while deciding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError, ModelError, closest
from engine.records import CLASSES
from engine.scale import assign
from engine.scoring.indicators import Catalogue, compute, load_catalogue
from engine.scoring.model import TOP_REASONS, ScoreModel
from engine.yamlfile import LocatedList, LocatedMap, read_yaml

__all__ = ["Registry", "RegistrySpec", "SegmentSpec", "load_registry", "read_spec"]

SCHEMA = "gridcredit.registry/1"
STR = pd.StringDtype("pyarrow", na_value=np.nan)


@dataclass(frozen=True)
class SegmentSpec:
    segment: str
    artifact: str
    customer_classes: tuple[str, ...]
    challenger: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class RegistrySpec:
    """The registry file as data: segments plus the recipe of the shipped models."""

    models_dir: Path
    catalogue_path: Path
    segments: tuple[SegmentSpec, ...]
    version: str = "2026.11"
    population_n: int = 200_000
    population_seed: int = 20261031
    folds: int = 5
    seed: int = 42

    def segment_of(self, customer_class: str) -> SegmentSpec:
        for s in self.segments:
            if customer_class in s.customer_classes:
                return s
        raise ConfigError(f"no model serves customer class '{customer_class}'",
                          file=str(self.models_dir / "registry.yaml"))


def read_spec(models_dir: str | Path) -> RegistrySpec:
    """Parse and check ``registry.yaml`` without loading any artifact."""
    models_dir = Path(models_dir)
    path = models_dir / "registry.yaml"
    where = str(path)
    doc = read_yaml(path)
    if not isinstance(doc, LocatedMap) or doc.get("schema") != SCHEMA:
        line = doc.line_of("schema") if isinstance(doc, LocatedMap) else 1
        raise ConfigError(f"key 'schema' must be {SCHEMA!r}", file=where, line=line)
    raw = doc.get("models") or LocatedList()
    if not isinstance(raw, LocatedList):
        raise ConfigError("key 'models' must list the models, one per segment", file=where,
                          line=doc.line_of("models"))
    segments = []
    served: dict[str, str] = {}
    for i, m in enumerate(raw):
        line = raw.line_of(i)
        if not isinstance(m, dict) or not {"segment", "artifact", "customer_classes"} <= set(m):
            raise ConfigError(f"models[{i}] needs segment, artifact and customer_classes",
                              file=where, line=line)
        unknown = set(m) - {"segment", "artifact", "customer_classes", "challenger"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"models[{i}]: unknown key '{key}'", file=where, line=line,
                              suggestion=closest(key, ["artifact", "challenger",
                                                       "customer_classes", "segment"]))
        for c in m["customer_classes"]:
            if c not in CLASSES:
                raise ConfigError(f"models[{i}]: unknown customer class '{c}'; use one of "
                                  + ", ".join(CLASSES), file=where, line=line,
                                  suggestion=closest(c, CLASSES))
            if c in served:
                raise ConfigError(f"customer class '{c}' is served by both '{served[c]}' and "
                                  f"'{m['segment']}'", file=where, line=line)
            served[c] = m["segment"]
        challenger = m.get("challenger")
        if challenger is not None and (not isinstance(challenger, str)
                                       or challenger == m["artifact"]):
            raise ConfigError(f"models[{i}]: challenger must name another artifact file",
                              file=where, line=line)
        segments.append(SegmentSpec(str(m["segment"]), str(m["artifact"]),
                                    tuple(m["customer_classes"]), challenger, line))
    unserved = [c for c in CLASSES if c not in served]
    if unserved:
        raise ConfigError("no model serves customer class(es) " + ", ".join(unserved),
                          file=where, line=doc.line_of("models"))
    t = doc.get("training") or {}
    pop = t.get("population") or {}
    return RegistrySpec(
        models_dir=models_dir,
        catalogue_path=models_dir / str(doc.get("catalogue", "indicators.yaml")),
        segments=tuple(segments),
        version=str(t.get("version", "2026.11")),
        population_n=int(pop.get("n", 200_000)),
        population_seed=int(pop.get("seed", 20261031)),
        folds=int(t.get("folds", 5)),
        seed=int(t.get("seed", 42)),
    )


@dataclass
class Registry:
    """Loaded models by segment, the catalogue they read, and the class -> model map."""

    spec: RegistrySpec
    catalogue: Catalogue
    models: dict[str, ScoreModel] = field(default_factory=dict)
    challengers: dict[str, ScoreModel] = field(default_factory=dict)

    def model_for(self, customer_class: str) -> ScoreModel:
        """The model that scores customers of ``customer_class``."""
        return self.models[self.spec.segment_of(customer_class).segment]

    def challenger_for(self, customer_class: str) -> ScoreModel | None:
        """The challenger scored in shadow for ``customer_class``, if its segment names one."""
        if not self.challengers:
            return None
        return self.challengers.get(self.spec.segment_of(customer_class).segment)

    def score_challengers(self, values: pd.DataFrame, customer_class: Any,
                          bands: Any) -> pd.DataFrame | None:
        """Shadow scores (model id, z, PD, master-scale grade) per row; None without any.

        Rows of a segment without a challenger get empty cells. The shadow
        never decides: its grade is the PD's band, no table runs on it.
        """
        if not self.challengers:
            return None
        klass = pd.Series(customer_class).astype("string").to_numpy(dtype=object,
                                                                    na_value=None)
        n = len(values)
        out = {"challenger_model_id": np.full(n, None, dtype=object),
               "challenger_z": np.full(n, np.nan), "challenger_pd": np.full(n, np.nan),
               "challenger_grade": np.full(n, None, dtype=object)}
        grades = np.array([b.grade for b in bands], dtype=object)
        for seg in self.spec.segments:
            model = self.challengers.get(seg.segment)
            rows = np.flatnonzero(np.isin(klass, seg.customer_classes))
            if model is None or not len(rows):
                continue
            scored = model.score_frame(values.iloc[rows])
            out["challenger_model_id"][rows] = model.model_id
            out["challenger_z"][rows] = scored.z
            out["challenger_pd"][rows] = scored.pd
            out["challenger_grade"][rows] = grades[assign(scored.pd, bands)]
        return pd.DataFrame(out, index=values.index)

    def indicators(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every catalogue indicator for a validated customer frame."""
        return compute(frame, self.catalogue)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score a validated frame mixing classes: z, pd, model_id, reasons per row."""
        if "customer_class" not in frame.columns:
            raise FrameError("missing column customer_class", columns=["customer_class"])
        return self.score_indicators(self.indicators(frame), frame["customer_class"])

    def score_indicators(self, values: pd.DataFrame, customer_class: Any) -> pd.DataFrame:
        """Score an indicator frame, each row with its class's model (rows aligned)."""
        classes, klass = pd.factorize(pd.Series(customer_class).astype("string"),
                                      use_na_sentinel=True)
        served = {c for s in self.spec.segments for c in s.customer_classes}
        unknown = sorted({str(c) for c in klass} - served
                         | ({"(missing)"} if (classes < 0).any() else set()))
        if unknown:
            raise FrameError("no model serves customer class(es) " + ", ".join(unknown),
                             columns=["customer_class"])
        n = len(values)
        z = np.full(n, np.nan)
        pd_values = np.full(n, np.nan)
        model_code = np.full(n, -1, dtype=np.int64)
        reasons = np.full((n, TOP_REASONS), -1, dtype=np.int64)
        contrib = np.zeros((n, TOP_REASONS))
        names = self.catalogue.names()
        position = {name: i for i, name in enumerate(names)}
        model_ids = []
        for seg in self.spec.segments:
            codes = [i for i, c in enumerate(klass) if c in seg.customer_classes]
            rows = np.flatnonzero(np.isin(classes, codes))
            if not len(rows):
                continue
            model = self.models[seg.segment]
            scored = model.score_frame(values, rows)
            order, top = scored.top_reasons(TOP_REASONS)
            to_global = np.array([position[i] for i in model.indicators] + [-1])
            z[rows], pd_values[rows] = scored.z, scored.pd
            reasons[rows] = to_global[order]
            contrib[rows] = top
            model_code[rows] = len(model_ids)
            model_ids.append(model.model_id)
        out: dict[str, Any] = {"z": z, "pd": pd_values,
                               "model_id": labelled(model_ids, model_code)}
        for j in range(TOP_REASONS):
            out[f"reason_{j + 1}"] = labelled(names, reasons[:, j])
            out[f"contribution_{j + 1}"] = contrib[:, j]
        return pd.DataFrame(out, index=values.index)

    def versions(self) -> dict[str, Any]:
        """Model id and hash per segment, as decisions record them."""
        return {s: {"model_id": m.model_id, "sha256": m.sha256} for s, m in self.models.items()}


def labelled(labels: list[str], codes: np.ndarray) -> pd.Categorical:
    """``labels[code]`` per row as a categorical column, missing where the code is -1.

    The codes are kept as they are: no text is built per row, and the batch
    writes them straight into Parquet's dictionary encoding.
    """
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=STR),
                                     validate=False)


def _check_challenger(seg: SegmentSpec, challenger: ScoreModel, champion: ScoreModel,
                      catalogue: Catalogue, where: str) -> None:
    """A challenger must read indicators its segment computes, and a champion's segment."""
    allowed = set(catalogue.names(seg.segment))
    foreign = [n for n in challenger.indicators if n not in allowed]
    if foreign:
        raise ConfigError(
            f"segment '{seg.segment}': challenger '{seg.challenger}' was trained on indicators "
            f"this segment does not compute: {', '.join(foreign)}; retrain it on the "
            f"segment's catalogue indicators ({', '.join(catalogue.names(seg.segment))})",
            file=where, line=seg.line)
    if challenger.model_id == champion.model_id:
        raise ConfigError(
            f"segment '{seg.segment}': champion '{seg.artifact}' and challenger "
            f"'{seg.challenger}' share the model id '{champion.model_id}', so decisions, "
            "comparisons and the promotion history could not tell them apart; retrain one "
            "with 'gridcredit train --model-id ID'", file=where, line=seg.line)
    if challenger.segment != champion.segment:
        raise ConfigError(
            f"segment '{seg.segment}': challenger '{seg.challenger}' is a model of segment "
            f"'{challenger.segment}'; train it for '{seg.segment}'", file=where, line=seg.line)


def load_registry(models_dir: str | Path) -> Registry:
    """Load the registry, the catalogue and every artifact it names (all checked)."""
    spec = read_spec(models_dir)
    catalogue = load_catalogue(spec.catalogue_path)
    models = {s.segment: ScoreModel.load(spec.models_dir / s.artifact, catalogue=catalogue)
              for s in spec.segments}
    challengers = {}
    where = str(spec.models_dir / "registry.yaml")
    for seg in spec.segments:
        if seg.challenger is None:
            continue
        path = spec.models_dir / seg.challenger
        try:
            model = ScoreModel.load(path, catalogue=catalogue)
        except ModelError as exc:
            raise ConfigError(f"segment '{seg.segment}': challenger '{seg.challenger}': "
                              f"{exc.message}", file=where, line=seg.line) from None
        _check_challenger(seg, model, models[seg.segment], catalogue, where)
        challengers[seg.segment] = model
    return Registry(spec, catalogue, models, challengers)
