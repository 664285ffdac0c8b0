"""Rule metric_text_embeddings: CLIP and sentence embeddings of every string the metrics
of a concept set can compare (its concepts, the texts the ground truth can name, imported
concepts).  Computed while the target and the descriptions run (the ground truth's texts
are known before its table), so the metrics job loads no model."""

import numpy as np
import pandas as pd

from conceptlens.activations import resolve_device
from conceptlens.ground_truth import read_ground_truth_texts
from conceptlens.metrics import metric_vocabulary
from conceptlens.models.clip import encode_texts, load_clip
from conceptlens.text_models import embed_sentences, load_sentence_model
from conceptlens.workflow import rule_context
from conceptlens.world.concepts import read_concept_set

with rule_context(snakemake) as log:  # noqa: F821
    p, inp = snakemake.params, snakemake.input  # noqa: F821
    device = resolve_device(p.device)
    truth = read_ground_truth_texts(p.world_target, list(inp.ground_truth_texts))
    texts = metric_vocabulary(read_concept_set(inp.concepts), truth,
                              [pd.read_parquet(path) for path in inp.imported])
    clip, _, tokenizer = load_clip(p.clip["name"], p.pretrained, device)
    clip_emb = encode_texts(clip, tokenizer, texts).float().cpu().numpy()
    sentence_emb = embed_sentences(load_sentence_model(p.sentence_model, str(device)), texts)
    np.savez(snakemake.output[0], texts=np.array(texts, dtype=str),  # noqa: F821
             clip=clip_emb.astype(np.float32), sentence=sentence_emb.astype(np.float32))
    log.info("%d texts: CLIP %s, sentence %s (%s)", len(texts), clip_emb.shape,
             sentence_emb.shape, p.sentence_model)
