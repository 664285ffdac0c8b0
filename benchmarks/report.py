"""Benchmark: render time and size of the HTML + PDF report of a finished run.

    .venv/bin/python benchmarks/report.py [--results results/world] [--config config.yaml]
        [--out /tmp/conceptlens-report] [--json stats.json] [--input KEY=PATH ...]

Finds the run's files as the report rule would take them (stability and ConVis files only
where the run made them); without report/neurons.json it chooses the neurons itself
(the report_neurons rule's defaults) into --out. Renders report.html and report.pdf into
--out (never into results/) and prints the seconds of each step, the sizes and the pages.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch

from conceptlens.config import load_config, report_grid_methods, report_method
from conceptlens.io.neurons import save_neurons
from conceptlens.report.inputs import discover_inputs
from conceptlens.report.render import render_report
from conceptlens.stages.report import choose_report_neurons


def choose_neurons(inputs: dict, config: dict, out: Path) -> str:
    """Write out/neurons.json as the report_neurons rule would; return its path."""
    methods = config.get("methods") or {}
    method = report_method(config, methods)
    report = config.get("report") or {}
    concept_set = report.get("concept_set") or next(iter(config["concept_sets"]))
    layers = report.get("layers") or config["layers"]
    view = methods[method]["view"]
    per_neuron = next(p for p in inputs["per_neuron"] if f"/{concept_set}/" in p)
    choose = {"best": 2, "worst": 2, "random": 2, **(report.get("choose") or {})}
    document = choose_report_neurons(
        per_neuron, inputs["descriptions"], inputs["topk"], layers=layers, method=method,
        view=view, concept_set=concept_set, choose=choose,
        top_images=report.get("top_images", 8), seed=report.get("seed", 0))
    path = out / "neurons.json"
    save_neurons(path, document)
    return str(path)


def pdf_pages(path: Path) -> int | None:
    try:
        info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    line = next((x for x in info.stdout.splitlines() if x.startswith("Pages:")), None)
    return int(line.split()[1]) if line else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/world")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--out", default="/tmp/conceptlens-report")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    parser.add_argument("--input", action="append", default=[], metavar="KEY=PATH",
                        help="add a report input (e.g. stability_table=other/table.csv)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = load_config(args.config)
    extra: dict[str, list[str]] = {}
    for item in args.input:
        key, _, path = item.partition("=")
        extra.setdefault(key, []).append(path)
    inputs = discover_inputs(args.results, extra)
    start = time.perf_counter()
    if not inputs["neurons"]:
        inputs["neurons"] = [choose_neurons(inputs, config, out)]
    t_select = time.perf_counter() - start
    report = config.get("report") or {}
    settings = {"run": config["run"], "title": report.get("title", "conceptlens report"),
                "config": config, "published": report.get("published") or {},
                "grid_methods": report_grid_methods(config, config.get("methods") or {}),
                "top_images": report.get("top_images", 8),
                "figure4_images": report.get("figure4_images", 6),
                "pdf_description_rows": report.get("pdf_description_rows", 40)}
    html, pdf = out / "report.html", out / "report.pdf"
    start = time.perf_counter()
    stats = render_report(inputs, settings, html, pdf)
    total = time.perf_counter() - start
    numbers = {"results": args.results, "neuron_selection_s": round(t_select, 2),
               "build_s": round(stats["build_s"], 2), "html_s": round(stats["html_s"], 2),
               "pdf_s": round(stats["pdf_s"], 2), "render_total_s": round(total, 2),
               "html_mb": round(stats["html_bytes"] / 1e6, 2),
               "pdf_mb": round(stats["pdf_bytes"] / 1e6, 2), "pdf_pages": pdf_pages(pdf),
               "optional_inputs": {k: len(inputs[k]) for k in (
                   "stability_table", "stability_png", "localisation", "neuron_maps")}}
    for key, value in numbers.items():
        print(f"{key:20s} {value}")
    print(f"wrote {html} and {pdf}")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
