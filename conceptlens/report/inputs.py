"""Reading a run's files for the report: result paths, tables, images, optional extras.

Every reader names the file (and the missing field) in its error. Paths follow the
workflow's layout under ``results/<run>/``; :func:`parse_result_path` is the one place
that turns a path into its concept set / method / layer / view.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.report import REPORT_INPUT_KEYS

PathLike = str | os.PathLike


@dataclass(frozen=True)
class ResultPath:
    """What a result path encodes. ``kind`` is e.g. ``descriptions``, ``table1``,
    ``ablation``, ``per_neuron``, ``topk``, ``boxes``, ``cams`` or ``benchmark``."""

    kind: str
    concept_set: str | None = None
    method: str | None = None
    layer: str | None = None
    view: str | None = None
    stage: str | None = None
    job: str | None = None


def parse_result_path(path: PathLike) -> ResultPath:
    """Parse ``descriptions/{concepts}/{method}/{layer}.parquet``,
    ``metrics/{concepts}/{table1.csv,ablation.csv,per_neuron.parquet}``,
    ``topk/{view}/{layer}.npz``, ``views/{view}/{boxes.parquet,cams.npz}`` and
    ``benchmarks/{stage}/.../{job}.tsv`` (anywhere under a results folder)."""
    p = Path(path)
    parts = p.parts
    if "benchmarks" in parts[:-1] and p.suffix == ".tsv":
        i = len(parts) - 1 - parts[::-1].index("benchmarks")
        rest = [*parts[i + 1:-1], p.stem]
        return ResultPath("benchmark", stage=rest[0], job="/".join(rest))
    if len(parts) >= 4 and parts[-4] == "descriptions" and p.suffix == ".parquet":
        return ResultPath("descriptions", concept_set=parts[-3], method=parts[-2], layer=p.stem)
    if len(parts) >= 3 and parts[-3] == "metrics" and p.name in (
            "table1.csv", "ablation.csv", "per_neuron.parquet"):
        return ResultPath(p.name.split(".")[0], concept_set=parts[-2])
    if len(parts) >= 3 and parts[-3] == "topk" and p.suffix == ".npz":
        return ResultPath("topk", view=parts[-2], layer=p.stem)
    if len(parts) >= 3 and parts[-3] == "views" and p.name in ("boxes.parquet", "cams.npz"):
        return ResultPath(p.stem, view=parts[-2])
    raise ValueError(
        f"{path}: not a result path the report knows (expected descriptions/<concepts>/<method>/"
        "<layer>.parquet, metrics/<concepts>/{table1.csv,ablation.csv,per_neuron.parquet}, "
        "topk/<view>/<layer>.npz, views/<view>/boxes.parquet or benchmarks/**.tsv)")


def as_paths(value: object) -> list[str]:
    """A named rule input as a list of paths: None -> [], a path -> [path], a list -> itself."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]  # type: ignore[union-attr]


def inputs_from_snakemake(snakemake_input: object) -> dict[str, list[str]]:
    """The report rule's named inputs (``REPORT_INPUT_KEYS``) as lists; absent keys -> []."""
    return {key: as_paths(getattr(snakemake_input, key, None)) for key in REPORT_INPUT_KEYS}


def one_path(paths: Iterable[str], key: str) -> str | None:
    """The single path of an optional input (None when empty; an error when several)."""
    paths = list(paths)
    if len(paths) > 1:
        raise ValueError(f"report input {key!r} takes one file, got {len(paths)}: {paths}")
    return paths[0] if paths else None


def require_columns(frame: pd.DataFrame, columns: Iterable[str], path: PathLike) -> None:
    """Raise naming ``path`` and the missing columns when ``frame`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(map(str, frame.columns))})")


def _read_table(path: PathLike) -> pd.DataFrame:
    if not Path(path).exists():
        raise FileNotFoundError(f"report input {path} does not exist")
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def read_metric_tables(paths: Iterable[PathLike], columns: Iterable[str] = ("method", "layer")
                       ) -> pd.DataFrame:
    """Concatenate metrics/{concepts}/{table1,ablation}.csv or per_neuron.parquet files, with
    a ``concept_set`` column taken from each path. Empty list -> empty frame."""
    frames = []
    for path in paths:
        frame = _read_table(path)
        require_columns(frame, columns, path)
        frames.append(frame.assign(concept_set=parse_result_path(path).concept_set))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


DESCRIPTION_COLUMNS = ("layer", "unit", "concept", "concepts")


def read_descriptions(paths: Iterable[PathLike]) -> pd.DataFrame:
    """All description tables with ``concept_set`` and ``method`` columns from their paths;
    ``concepts`` as Python lists of str."""
    frames = []
    for path in paths:
        where = parse_result_path(path)
        frame = _read_table(path)
        require_columns(frame, DESCRIPTION_COLUMNS, path)
        frame = frame.assign(concept_set=where.concept_set, method=where.method,
                             layer=frame["layer"].astype(str),
                             concepts=[[str(c) for c in v] for v in frame["concepts"]])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[*DESCRIPTION_COLUMNS, "concept_set", "method"])


GROUND_TRUTH_COLUMNS = ("layer", "unit", "concept", "synonyms")


def read_ground_truth(path: PathLike | None) -> pd.DataFrame:
    """ground_truth/neurons.parquet with ``synonyms`` as lists; None -> empty frame."""
    if path is None:
        return pd.DataFrame(columns=[*GROUND_TRUTH_COLUMNS, "attribute", "auroc"])
    frame = _read_table(path)
    require_columns(frame, GROUND_TRUTH_COLUMNS, path)
    return frame.assign(layer=frame["layer"].astype(str),
                        synonyms=[str(s).split("|") for s in frame["synonyms"]])


def read_topk(path: PathLike) -> np.ndarray:
    """Top image ids (n_neurons, k) int64 of a topk/{view}/{layer}.npz file."""
    with np.load(path) as data:
        if "indices" not in data:
            raise ValueError(f"{path}: no 'indices' array (keys: {', '.join(data.files)})")
        return data["indices"].astype(np.int64)


def read_boxes(path: PathLike) -> np.ndarray:
    """Crop boxes (n_images, 4) int64 x0, y0, x1, y1 of views/{view}/boxes.parquet, row i =
    image i."""
    frame = _read_table(path)
    require_columns(frame, ("image_id", "x0", "y0", "x1", "y1"), path)
    frame = frame.sort_values("image_id")
    if not np.array_equal(frame["image_id"].to_numpy(), np.arange(len(frame))):
        raise ValueError(f"{path}: image_id must be 0..n-1")
    return frame[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.int64)


def by_view_and_layer(paths: Iterable[PathLike]) -> dict[tuple[str, str], str]:
    """topk paths keyed by (view, layer)."""
    out = {}
    for path in paths:
        where = parse_result_path(path)
        out[(str(where.view), str(where.layer))] = os.fspath(path)
    return out


def read_benchmarks(paths: Iterable[PathLike]) -> pd.DataFrame:
    """Snakemake benchmark TSVs as rows (stage, job, seconds, max_rss MB); a file with several
    repeats contributes its mean."""
    rows = []
    for path in paths:
        where = parse_result_path(path)
        frame = pd.read_csv(path, sep="\t")
        require_columns(frame, ("s",), path)
        rss = pd.to_numeric(frame.get("max_rss", pd.Series([np.nan])), errors="coerce")
        rows.append({"stage": where.stage, "job": where.job, "seconds": float(frame["s"].mean()),
                     "max_rss": float(rss.max())})
    return pd.DataFrame(rows, columns=["stage", "job", "seconds", "max_rss"])


NEURONS_KEYS = ("concept_set", "method", "view", "neurons")
NEURON_KEYS = ("layer", "unit", "reason", "concept", "image_ids")


def read_neurons_json(path: PathLike) -> dict:
    """report/neurons.json, checked: top-level keys and each neuron's fields."""
    doc = json.loads(Path(path).read_text())
    missing = [k for k in NEURONS_KEYS if k not in doc]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(missing)}")
    for i, neuron in enumerate(doc["neurons"]):
        absent = [k for k in NEURON_KEYS if k not in neuron]
        if absent:
            raise ValueError(f"{path}: neurons[{i}] lacks {', '.join(absent)}")
    return doc


STABILITY_COLUMNS = ("k=5->10",)


def read_stability_table(path: PathLike) -> pd.DataFrame:
    """stability/table.csv: index column ``name``, percentages 0-100 and ``neurons``."""
    frame = pd.read_csv(path)
    require_columns(frame, ("name", "neurons"), path)
    return frame


LOCALISATION_COLUMNS = ("method", "attribute", "pointing", "pointing_se", "energy_share",
                        "energy_share_se", "images")


def read_localisation(path: PathLike) -> pd.DataFrame:
    """convis/localisation.csv (method, attribute, pointing, energy_share with ``_se``,
    images)."""
    frame = pd.read_csv(path)
    require_columns(frame, LOCALISATION_COLUMNS, path)
    return frame


def read_neuron_maps(path: PathLike) -> dict[tuple[str, int, int], np.ndarray]:
    """convis/neuron_maps.npz (conceptlens.convis_files.save_maps) as {(layer, unit, image_id):
    map (H, W) float32 in [0, 1]}; the file's ``maps`` are uint8 where 0-255 means 0-1."""
    from conceptlens.convis_files import load_maps

    data = load_maps(path)
    layers, units, ids, maps = (data[k] for k in ("layer", "unit", "image_id", "maps"))
    if len(layers) and (maps.ndim != 3 or len(maps) != len(layers)):
        raise ValueError(f"{path}: maps must be (n, H, W) with n = {len(layers)}, got {maps.shape}")
    scale = 255.0 if maps.dtype == np.uint8 else 1.0
    return {(str(layer), int(unit), int(i)): maps[k].astype(np.float32) / scale
            for k, (layer, unit, i) in enumerate(zip(layers, units, ids))}


class ProbeImages:
    """Images of a probe split directory (``attributes.parquet`` and ``images/``), read on
    demand and cached: ``images[i]`` is image ``i`` as (H, W, 3) uint8."""

    def __init__(self, split_dir: PathLike):
        self.root = Path(split_dir)
        table = self.root / "attributes.parquet"
        if not table.exists():
            raise FileNotFoundError(f"probe split {self.root}: no attributes.parquet")
        self.attributes = pd.read_parquet(table)
        require_columns(self.attributes, ("image_id",), table)
        self.attributes = self.attributes.set_index("image_id", drop=False)
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.attributes)

    def file(self, image_id: int) -> Path:
        if image_id not in self.attributes.index:
            raise KeyError(f"probe split {self.root}: no image {image_id}")
        if "file" in self.attributes.columns:
            return self.root / str(self.attributes.at[image_id, "file"])
        return self.root / "images" / f"{image_id:06d}.png"

    def __getitem__(self, image_id: int) -> np.ndarray:
        image_id = int(image_id)
        if image_id not in self._cache:
            from PIL import Image

            with Image.open(self.file(image_id)) as img:
                self._cache[image_id] = np.asarray(img.convert("RGB")).copy()
        return self._cache[image_id]


def discover_inputs(results_dir: PathLike, extra: Mapping[str, Iterable[str]] | None = None
                    ) -> dict[str, list[str]]:
    """The report inputs of a finished run found by globbing ``results_dir`` (for manual
    renders and benchmarks; the workflow passes them explicitly). ``extra`` overrides keys."""
    root = Path(results_dir)

    def glob(pattern: str) -> list[str]:
        return sorted(str(p) for p in root.glob(pattern) if p.is_file())

    found = {
        "table1": glob("metrics/*/table1.csv"),
        "ablation": glob("metrics/*/ablation.csv"),
        "per_neuron": glob("metrics/*/per_neuron.parquet"),
        "ground_truth": glob("ground_truth/neurons.parquet"),
        "descriptions": glob("descriptions/*/*/*.parquet"),
        "neurons": glob("report/neurons.json"),
        "topk": glob("topk/*/*.npz"),
        "boxes": glob("views/*/boxes.parquet"),
        "split": [str(root / "world" / "probe")] if (root / "world" / "probe").is_dir() else [],
        "stability_table": glob("stability/table.csv"),
        "stability_png": glob("stability/chart.png"),
        "stability_svg": glob("stability/chart.svg"),
        "localisation": glob("convis/localisation.csv"),
        "neuron_maps": glob("convis/neuron_maps.npz"),
        "benchmarks": glob("benchmarks/**/*.tsv"),
    }
    for key, value in (extra or {}).items():
        if key not in found:
            raise KeyError(f"unknown report input {key!r} (known: {', '.join(found)})")
        found[key] = as_paths(value)
    return found
