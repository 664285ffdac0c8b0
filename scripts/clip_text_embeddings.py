"""Rule clip_text_embeddings: CLIP text embeddings of a concept set with every template
that one CLIP model's methods (and the stability analysis) use, one job."""

from conceptlens.activations import precision_context, resolve_device
from conceptlens.embeddings import embed_concepts, save_text_embeddings
from conceptlens.models.clip import load_clip
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import read_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    concepts = read_concept_set(snakemake.input.concepts)  # noqa: F821
    device = resolve_device(p.device)
    model, _, tokenizer = load_clip(p.clip["name"], p.pretrained, device)
    embedded = {}
    for key, template in p.templates.items():
        with precision_context(p.precision, device):
            emb, alone = embed_concepts(model, tokenizer, concepts, template)
        embedded[key] = template, emb, alone
        log.info("embedded %d concepts with %s: %r", len(concepts), key, template)
    save_text_embeddings(snakemake.output[0], concepts, embedded)  # noqa: F821
