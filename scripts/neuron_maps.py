"""Rule neuron_maps: each neuron's activation map on its top images of the full view (the
explorer's overlays), one file a layer; the target loads once."""

from conceptlens.io.neuron_maps import save_neuron_maps
from conceptlens.io.paths import parse_result_path
from conceptlens.io.probe import read_attributes
from conceptlens.stages.neuron_maps import neuron_maps
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp, s = snakemake.params, snakemake.input, snakemake.params.settings
    files = {parse_result_path(path).layer: str(path) for path in inp.activations}
    maps = neuron_maps(inp.split, read_attributes(inp.split), p.target, p.layers, files,
                       p.n_top, s["batch_size"], s["workers"], p.device, s["precision"],
                       s["tokens"], s.get("image_size"), log)
    for layer, path in zip(p.layers, snakemake.output.maps, strict=True):
        save_neuron_maps(path, *maps[layer])
