"""Rule metric_text_embeddings: CLIP and sentence embeddings of every text the metrics of
a concept set can compare, computed beside the target and the descriptions."""

from conceptlens.io.embeddings import save_metric_text_embeddings
from conceptlens.stages.metrics import metric_text_embeddings
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:
    p, inp = snakemake.params, snakemake.input
    embedded = metric_text_embeddings(inp.concepts, inp.ground_truth_texts, p.world_target,
                                      inp.imported, p.clip, p.pretrained, p.sentence_model,
                                      p.device, log)
    save_metric_text_embeddings(snakemake.output[0], *embedded)
