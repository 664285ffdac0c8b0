"""Rule activations: the target's pass over the probe set, one job (the target loads once):
each view's boxes, the Grad-CAM maps and activations, and target.json (rule topk takes
the top-k sets from the activations)."""

import tempfile
from pathlib import Path

from conceptlens.io.probe import read_attributes
from conceptlens.stages.target_pass import TargetPassSettings, save_target_pass, target_pass
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, out, split = snakemake.params, snakemake.output, snakemake.input.split
    # disk-backed matrices beside the outputs: memory stays one batch
    with tempfile.TemporaryDirectory(dir=Path(out.target).parent, prefix=".pass.") as scratch:
        result = target_pass(split, read_attributes(split), p.target,
                             TargetPassSettings.from_params(p.settings), p.device, scratch, log)
        save_target_pass(result, out.boxes, out.cams, out.activations, [], out.target)
        del result  # closes the memmaps before their folder goes
