"""Rule report_neurons: choose the neurons of the report's grids (report/neurons.json)."""

import pandas as pd

from conceptlens.report.inputs import (
    as_paths,
    parse_result_path,
    read_descriptions,
    read_topk,
)
from conceptlens.report.selection import (
    neuron_records,
    neurons_document,
    select_neurons,
    write_json,
)
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    inp = snakemake.input  # noqa: F821
    per_neuron = pd.read_parquet(inp.per_neuron)
    descriptions = read_descriptions(
        [f for f in as_paths(inp.descriptions)
         if parse_result_path(f).method == p.method
         and parse_result_path(f).concept_set == p.concept_set])
    top_concepts = {(str(layer), int(unit)): str(concept) for layer, unit, concept
                    in descriptions[["layer", "unit", "concept"]].itertuples(index=False)}
    top_images = {}
    for path in as_paths(inp.topk):
        where = parse_result_path(path)
        if where.view == p.view:
            top_images[str(where.layer)] = read_topk(path)
    selected = select_neurons(per_neuron, p.method, list(p.layers), dict(p.choose), int(p.seed))
    for layer in p.layers:
        n = int((selected["layer"] == layer).sum())
        log.info("layer %s: %d neurons chosen", layer, n)
    records = neuron_records(selected, top_concepts, top_images, int(p.top_images))
    write_json(snakemake.output[0], neurons_document(  # noqa: F821
        p.concept_set, p.method, p.view, records))
