"""What a path under ``results/<run>/`` encodes (its concept set, method, layer, view):
the one place result paths are parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conceptlens.io.atomic import PathLike


@dataclass(frozen=True)
class ResultPath:
    """What a result path encodes. ``kind`` is e.g. ``descriptions``, ``imported``,
    ``table1``, ``ablation``, ``per_neuron``, ``topk``, ``activations``, ``boxes``, ``cams`` or
    ``benchmark``."""

    kind: str
    concept_set: str | None = None
    method: str | None = None
    layer: str | None = None
    view: str | None = None
    stage: str | None = None
    job: str | None = None


def parse_result_path(path: PathLike) -> ResultPath:
    """Parse ``descriptions/{concepts}/{method}/{layer}.parquet``,
    ``imported/{name}.parquet`` (method = name),
    ``metrics/{concepts}/{table1.csv,ablation.csv,per_neuron.parquet}``,
    ``topk/{view}/{layer}.npz``, ``activations/{view}/{layer}.npz``,
    ``views/{view}/{boxes.parquet,cams.npz}`` and
    ``benchmarks/{stage}/.../{job}.tsv`` (anywhere under a results folder)."""
    p = Path(path)
    parts = p.parts
    if "benchmarks" in parts[:-1] and p.suffix == ".tsv":
        i = len(parts) - 1 - parts[::-1].index("benchmarks")
        rest = [*parts[i + 1:-1], p.stem]
        return ResultPath("benchmark", stage=rest[0], job="/".join(rest))
    if len(parts) >= 4 and parts[-4] == "descriptions" and p.suffix == ".parquet":
        return ResultPath("descriptions", concept_set=parts[-3], method=parts[-2], layer=p.stem)
    if len(parts) >= 2 and parts[-2] == "imported" and p.suffix == ".parquet":
        return ResultPath("imported", method=p.stem)
    if len(parts) >= 3 and parts[-3] == "metrics" and p.name in (
            "table1.csv", "ablation.csv", "per_neuron.parquet"):
        return ResultPath(p.name.split(".")[0], concept_set=parts[-2])
    if len(parts) >= 3 and parts[-3] in ("topk", "activations") and p.suffix == ".npz":
        return ResultPath(parts[-3], view=parts[-2], layer=p.stem)
    if len(parts) >= 3 and parts[-3] == "views" and p.name in ("boxes.parquet", "cams.npz"):
        return ResultPath(p.stem, view=parts[-2])
    raise ValueError(
        f"{path}: not a result path conceptlens knows (expected descriptions/<concepts>/"
        "<method>/<layer>.parquet, imported/<name>.parquet, metrics/<concepts>/{table1.csv,"
        "ablation.csv,per_neuron.parquet}, {topk,activations}/<view>/<layer>.npz, views/<view>/"
        "boxes.parquet or benchmarks/**.tsv)")
