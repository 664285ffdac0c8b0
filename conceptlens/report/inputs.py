"""The report's inputs: the report rule's named inputs as lists of paths, the inputs of a
finished run found on disk, and Snakemake's benchmark files.

Every other file the report reads has its reader in :mod:`conceptlens.io` (what a result
path encodes: :mod:`conceptlens.io.paths`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.io.atomic import PathLike
from conceptlens.io.paths import parse_result_path
from conceptlens.report import REPORT_INPUT_KEYS


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
        if "s" not in frame.columns:
            raise ValueError(f"{path}: missing column(s) s "
                             f"(has {', '.join(map(str, frame.columns))})")
        rss = pd.to_numeric(frame.get("max_rss", pd.Series([np.nan])), errors="coerce")
        rows.append({"stage": where.stage, "job": where.job, "seconds": float(frame["s"].mean()),
                     "max_rss": float(rss.max())})
    return pd.DataFrame(rows, columns=["stage", "job", "seconds", "max_rss"])


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
        "evidence": glob("evidence/*/table.parquet"),
        "evidence_summary": glob("evidence/*/summary.csv"),
        "evidence_check": glob("evidence/*/check.csv"),
        "claims": glob("metrics/claims.csv"),
    }
    for key, value in (extra or {}).items():
        if key not in found:
            raise KeyError(f"unknown report input {key!r} (known: {', '.join(found)})")
        found[key] = as_paths(value)
    return found
