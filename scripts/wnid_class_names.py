"""Rule wnid_class_names: one line per class of an ImageNet probe set, the WordNet lemmas of
its wnid ("tench, Tinca tinca"), in label order (fc unit i <-> line i)."""

from conceptlens.io.concepts import write_class_names
from conceptlens.stages.concept_sets import wnid_class_names
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    write_class_names(snakemake.output[0], wnid_class_names(snakemake.input.split, log))
