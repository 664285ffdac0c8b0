"""Rule wnid_class_names: one line per class of an ImageNet probe set, the WordNet lemmas of
its wnid ("tench, Tinca tinca"), in label order (fc unit i <-> line i)."""

from pathlib import Path

from conceptlens.concept_sets import imagenet_synonyms
from conceptlens.files import atomic_write_text
from conceptlens.probes import CLASSES_FILE
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    classes = Path(snakemake.input.split) / CLASSES_FILE  # noqa: F821
    if not classes.is_file():
        raise FileNotFoundError(f"{classes}: the probe set has no wnid class list (only "
                                "ImageNet probe sets have one)")
    wnids = classes.read_text().split()
    lines = imagenet_synonyms(wnids)
    atomic_write_text(snakemake.output[0], "\n".join(lines) + "\n")  # noqa: F821
    log.info("%d classes named from WordNet (first: %s)", len(lines), lines[0])
