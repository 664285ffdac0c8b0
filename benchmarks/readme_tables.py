"""Print the README's result tables of a finished run, in Markdown, from its files.

    .venv/bin/python benchmarks/readme_tables.py [--run world] [--sections table1 claims ...]

The tables are the report's own (:mod:`conceptlens.report.sections`), rendered by
:func:`conceptlens.report.markdown.table_markdown`: the README's Table 1, ablation, claims,
evidence check, stability and ConVis localisation tables are pasted from this output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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

SECTIONS = ("table1", "ablation", "claims", "evidence", "stability", "localisation")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="world", help="results/<run>/")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    inputs = discover_inputs(Path("results") / args.run)
    for name, section in zip(args.sections, sections(inputs, tuple(args.sections))):
        print(f"<!-- {name} -->")
        if section is None:
            print(f"({name}: not produced by this run)\n")
            continue
        for table in section.tables:
            print(table_markdown(table))


if __name__ == "__main__":
    main()
