"""Print the README's result tables of a finished run, in Markdown, from its files.

    .venv/bin/python benchmarks/readme_tables.py [--run world] [--sections table1 ...]
    .venv/bin/python benchmarks/readme_tables.py --write README.md   # refresh it in place

The tables are the report's own (:mod:`conceptlens.report.sections`), rendered by
:func:`conceptlens.report.markdown.table_markdown`, plus two summaries of the run's files
(``claims_summary``: each claim's hit-rate difference on a layer per concept set;
``attributes``: hit rate by the planted concept's attribute). With ``--write``, each
section replaces the README's lines between ``<!-- BEGIN readme_tables NAME -->`` and
``<!-- END readme_tables NAME -->``; a section the README has no block for is left out.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from conceptlens.io.convis import read_localisation
from conceptlens.io.evidence import load_evidence_check, load_evidence_summary, read_evidence_files
from conceptlens.io.metrics import read_claims, read_metric_tables
from conceptlens.io.stability import read_stability_table
from conceptlens.report.inputs import discover_inputs, one_path
from conceptlens.report.markdown import table_markdown
from conceptlens.report.sections.evidence import evidence_section
from conceptlens.report.sections.localisation import localisation_section
from conceptlens.report.sections.metrics import ablation_section, claims_section, table1_section
from conceptlens.report.sections.stability import stability_section

SECTIONS = ("table1", "ablation", "claims", "evidence", "stability", "localisation",
            "claims_summary", "attributes", "evidence_check", "view_shares", "kappa")
SUMMARIES = ("claims_summary", "attributes", "evidence_check", "view_shares", "kappa")
SUMMARY_LAYER = "layer4"


def sections(inputs: dict, names: tuple[str, ...]) -> list:
    """The report sections ``names`` of a run's ``inputs`` (None where not produced)."""

    def one(key, reader):
        path = one_path(inputs.get(key, []), key)
        return reader(path) if path else None

    builders = {
        "table1": lambda: table1_section(read_metric_tables(inputs["table1"]), {}),
        "ablation": lambda: ablation_section(read_metric_tables(inputs["ablation"]), {}),
        "claims": lambda: claims_section(one("claims", read_claims)),
        "evidence": lambda: evidence_section(
            read_evidence_files(inputs["evidence_summary"], load_evidence_summary),
            read_evidence_files(inputs["evidence_check"], load_evidence_check)),
        "stability": lambda: stability_section(one("stability_table", read_stability_table),
                                               None, {}),
        "localisation": lambda: localisation_section(one("localisation", read_localisation)),
    }
    return [builders[name]() for name in names]


def claims_summary(claims: pd.DataFrame, layer: str = SUMMARY_LAYER) -> str:
    """One row a comparison, one column a concept set: the hit-rate difference (points)
    on ``layer`` with its 95% interval and verdict."""
    rows = claims[(claims["layer"].astype(str) == layer) & (claims["metric"] == "hit")]
    sets = list(dict.fromkeys(rows["concept_set"]))
    lines = ["| claim (method vs baseline) | " + " | ".join(sets) + " |",
             "| --- |" + " --- |" * len(sets)]
    for comparison, group in rows.groupby("comparison", sort=False):
        first = group.iloc[0]
        cells = {r["concept_set"]: f"{100 * r['difference']:+.1f} [{100 * r['ci_low']:+.1f}, "
                 f"{100 * r['ci_high']:+.1f}] {r['verdict']}" for _, r in group.iterrows()}
        lines.append(f"| {comparison} (`{first['method']}` vs `{first['baseline']}`) | "
                     + " | ".join(cells.get(c, "") for c in sets) + " |")
    return "\n".join(lines) + "\n"


def attribute_hit_rates(per_neuron: pd.DataFrame, ground_truth: pd.DataFrame,
                        layer: str = SUMMARY_LAYER) -> str:
    """Hit rate (%) of each method on ``layer`` by the attribute of the planted concept."""
    truth = ground_truth[ground_truth["layer"].astype(str) == layer][["unit", "attribute"]]
    rows = per_neuron[per_neuron["layer"].astype(str) == layer].merge(truth, on="unit")
    table = rows.pivot_table(index="method", columns="attribute", values="hit",
                             aggfunc="mean", sort=False) * 100
    counts = truth["attribute"].value_counts()
    columns = [c for c in ("shape", "color", "texture", "background") if c in table]
    lines = ["| method | " + " | ".join(f"{c} ({counts[c]})" for c in columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    lines += [f"| {m} | " + " | ".join(f"{table.loc[m, c]:.1f}" for c in columns) + " |"
              for m in table.index]
    return "\n".join(lines) + "\n"


def evidence_check_summary(check: pd.DataFrame, layer: str = SUMMARY_LAYER) -> str:
    """Per method on ``layer``: how well contrast and simulation separate hits from misses
    (AUROC, also for the held-out description), their Spearman correlation with F1, and
    the hit rate of the neurons that beat the shuffled baseline and of the others."""
    rows = check[check["layer"].astype(str) == layer]
    lines = ["| method | hits / misses | contrast AUROC | simulation AUROC | held-out: "
             "contrast / simulation AUROC | Spearman with F1: contrast / simulation | "
             "hit rate: beats shuffled / not (%) |", "| --- |" + " --- |" * 6]
    for _, r in rows.iterrows():
        lines.append(
            f"| {r['method']} | {r['n_hits']} / {r['n_misses']} | "
            f"{r['contrast_auc_auroc']:.2f} | {r['simulation_pearson_auroc']:.2f} | "
            f"{r['heldout_contrast_auc_auroc']:.2f} / {r['heldout_simulation_pearson_auroc']:.2f}"
            f" | {r['contrast_auc_f1_spearman']:.2f} / {r['simulation_pearson_f1_spearman']:.2f}"
            f" | {100 * r['hit_rate_beats_shuffled']:.0f} / "
            f"{100 * r['hit_rate_below_shuffled']:.0f} |")
    return "\n".join(lines) + "\n"


def markdown_sections(inputs: dict, names: list[str]) -> dict[str, str]:
    """Section name -> its Markdown (empty where the run did not produce it)."""
    from conceptlens.io.ground_truth import load_ground_truth

    out: dict[str, str] = {}
    report = [n for n in names if n not in SUMMARIES]
    for name, section in zip(report, sections(inputs, tuple(report))):
        out[name] = "" if section is None else "\n".join(table_markdown(t)
                                                        for t in section.tables)
    if "claims_summary" in names:
        path = one_path(inputs.get("claims", []), "claims")
        out["claims_summary"] = claims_summary(read_claims(path)) if path else ""
    if "attributes" in names:
        per_neuron = [p for p in inputs.get("per_neuron", []) if Path(p).parent.name == "world"]
        truth = one_path(inputs.get("ground_truth", []), "ground_truth")
        out["attributes"] = (attribute_hit_rates(pd.read_parquet(per_neuron[0]),
                                                 load_ground_truth(truth))
                             if per_neuron and truth else "")
    if "evidence_check" in names:
        checks = [p for p in inputs.get("evidence_check", []) if Path(p).parent.name == "world"]
        out["evidence_check"] = (evidence_check_summary(load_evidence_check(checks[0]))
                                 if checks else "")
    if "view_shares" in names:
        out["view_shares"] = view_shares_markdown(inputs)
    if "kappa" in names:
        path = Path(inputs["run_dir"]) / "tuning" / "kappa.json" if "run_dir" in inputs else None
        out["kappa"] = kappa_markdown(json.loads(path.read_text())) if path and path.is_file() \
            else ""
    return out


def kappa_markdown(tuning: dict) -> str:
    """The tuning split's sweep (``tuning/kappa.json``): the criterion (mean over the tuned
    layers, %) for each kappa and method, the chosen kappa, then the Grad-CAM window sweep."""
    kappas = tuning["kappas"]
    lines = [f"Tuning split: seed {tuning['split']['seed']}, {tuning['split']['images']} images; "
             f"mean {tuning['criterion']} (%) over {', '.join(tuning['layers'])}:", "",
             "| kappa | " + " | ".join(f"{k:g}" for k in kappas) + " | chosen (raw best) |",
             "| --- |" + " --- |" * (len(kappas) + 1)]
    for method, entry in tuning["methods"].items():
        scores = {row["kappa"]: row["score"] for row in entry["sweep"]}
        lines.append(f"| `{method}` | " + " | ".join(f"{100 * scores[k]:.2f}" for k in kappas)
                     + f" | {entry['kappa']:g} ({entry['best']:g}) |")
    window = tuning.get("gradcam_fraction")
    if window:
        lines += ["", f"Grad-CAM window side (`{window['method']}`, kappa {window['kappa']:g}; "
                  f"configured {window['configured']:g}):", "",
                  "| window | " + " | ".join(f"{r['fraction']:g}" for r in window["sweep"])
                  + " |", "| --- |" + " --- |" * len(window["sweep"]),
                  f"| mean {tuning['criterion']} (%) | " + " | ".join(
                      f"{100 * r['score']:.2f}" for r in window["sweep"]) + " |",
                  "| `layer4` hit rate (%) | " + " | ".join(
                      f"{100 * r['layers']['layer4']['hit_rate']:.1f}" for r in window["sweep"]
                      if "layer4" in r["layers"]) + " |"]
    return "\n".join(lines) + "\n"


def view_shares_markdown(inputs: dict) -> str:
    """What the centre and Grad-CAM windows hold (the report's table of the crops section)."""
    import numpy as np

    from conceptlens.io.probe import read_attributes
    from conceptlens.io.views import load_boxes
    from conceptlens.report.table_models import view_shares as view_shares_table
    from conceptlens.view_coverage import view_shares

    boxes = {Path(p).parent.name: load_boxes(p) for p in inputs.get("boxes", [])}
    if not inputs.get("split") or not {"center", "gradcam"} <= set(boxes):
        return ""
    attributes = read_attributes(inputs["split"][0])
    shares = view_shares({v: boxes[v] for v in ("center", "gradcam")},
                         attributes.loc[np.arange(len(boxes["center"]))])
    return table_markdown(view_shares_table(shares))


def rewrite(readme: str, blocks: dict[str, str]) -> tuple[str, list[str]]:
    """``readme`` with each marked block replaced; the names replaced."""
    done = []
    for name, text in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN readme_tables {name} -->\n).*?(<!-- END "
                             rf"readme_tables {name} -->)", re.S)
        body = text.rstrip() + "\n"
        readme, n = pattern.subn(lambda m, body=body: m.group(1) + body + m.group(2), readme)
        if n:
            done.append(name)
    return readme, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="world", help="results/<run>/")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--write", type=Path, help="rewrite this README's marked blocks")
    args = parser.parse_args()
    inputs = {**discover_inputs(Path("results") / args.run),
              "run_dir": str(Path("results") / args.run)}
    blocks = markdown_sections(inputs, args.sections)
    if args.write:
        text, done = rewrite(args.write.read_text(), {k: v for k, v in blocks.items() if v})
        args.write.write_text(text)
        print(f"{args.write}: rewrote {', '.join(done) or 'no block'}")
        return
    for name, text in blocks.items():
        print(f"<!-- {name} -->")
        print(text or f"({name}: not produced by this run)\n")


if __name__ == "__main__":
    main()
