"""Rule convis_localisation: ConVis maps of the main object's shape and color on probe images,
scored against the object's box next to the Grad-CAM and centre-bias baselines."""

from conceptlens.io.convis import save_localisation, save_localisation_maps
from conceptlens.stages.convis import localisation
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    inp, out = snakemake.input, snakemake.output
    table, maps, about = localisation(inp.split, inp.cams, inp.hierarchy,
                                      snakemake.params.settings, log)
    save_localisation_maps(out.maps, **maps)
    save_localisation(table, out.csv, out.json, about)
