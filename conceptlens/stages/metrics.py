"""Stages of rules ``metric_text_embeddings`` and ``metrics``: every method's descriptions
of a concept set against the ground truth, with text embeddings computed beforehand (the
ground truth's texts are known before its table), so the metrics job loads no model."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

_LOG = logging.getLogger(__name__)


def metric_text_embeddings(concepts: str, ground_truth_texts: Sequence[str], world_target: bool,
                           imported: Sequence[str], clip: Mapping, pretrained: str | None,
                           sentence_model: str, device: str = "auto",
                           log: logging.Logger = _LOG) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, CLIP (n, d) and sentence (n, d') float32 embeddings) of every text the
    metrics of a concept set can compare: its concepts (file ``concepts``), the texts the
    ground truth can name (from ``ground_truth_texts`` files) and the imported concepts."""
    from conceptlens.devices import resolve_device
    from conceptlens.ground_truth import read_ground_truth_texts
    from conceptlens.io.concepts import read_concept_set
    from conceptlens.io.descriptions import load_description_table
    from conceptlens.metrics import metric_vocabulary
    from conceptlens.models.clip import encode_texts, load_clip
    from conceptlens.text_models import embed_sentences, load_sentence_model

    torch_device = resolve_device(device)
    truth = read_ground_truth_texts(world_target, list(ground_truth_texts))
    texts = metric_vocabulary(read_concept_set(concepts), truth,
                              [load_description_table(path) for path in imported])
    model, _, tokenizer = load_clip(clip["name"], pretrained, torch_device)
    clip_emb = encode_texts(model, tokenizer, texts,
                            desc="CLIP embeddings of the metric texts").float().cpu().numpy()
    sentence_emb = embed_sentences(load_sentence_model(sentence_model, str(torch_device)),
                                   texts, desc="sentence embeddings of the metric texts")
    log.info("%d texts: CLIP %s, sentence %s (%s)", len(texts), clip_emb.shape,
             sentence_emb.shape, sentence_model)
    return texts, clip_emb.astype(np.float32), sentence_emb.astype(np.float32)


def evaluate(descriptions: Sequence[str], imported: Sequence[str], ground_truth: str,
             concepts: str, text_embeddings: str, layers: Sequence[str],
             ablation: Mapping[str, str], log: logging.Logger = _LOG
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(Table 1, the ablation table, per-neuron scores) of every method's descriptions
    (``descriptions/<concepts>/<method>/<layer>.parquet`` files, their scores beside them)
    and imported descriptions, against the ground-truth table; the text embeddings come
    from :func:`metric_text_embeddings`' file.  Without ground truth for any layer (a real
    target's conv layers; fc without class names) the three tables are empty, with their
    columns."""
    from conceptlens.io.concepts import read_concept_set
    from conceptlens.io.descriptions import load_description_table, load_scores
    from conceptlens.io.embeddings import load_metric_text_embeddings
    from conceptlens.io.ground_truth import load_ground_truth
    from conceptlens.io.paths import parse_result_path
    from conceptlens.metric_tables import (
        PER_NEURON_COLUMNS,
        ablation_table,
        evaluate_method_layer,
        table1,
    )
    from conceptlens.metrics import lookup_embedder

    truth = load_ground_truth(ground_truth)
    concept_list = read_concept_set(concepts)
    texts, clip_emb, sentence_emb = load_metric_text_embeddings(text_embeddings)
    embed_clip = lookup_embedder(texts, clip_emb, str(text_embeddings))
    embed_sentence = lookup_embedder(texts, sentence_emb, str(text_embeddings))

    tables = []  # (method, layer, descriptions, scores or None)
    for path in descriptions:
        where = parse_result_path(path)
        tables.append((where.method, where.layer, load_description_table(path),
                       load_scores(path)))
    for path in imported:
        table = load_description_table(path)
        for layer, group in table.groupby("layer"):
            tables.append((parse_result_path(path).method, str(layer),
                           group.reset_index(drop=True), None))

    summaries, per_neuron = {}, []
    for method, layer, table, scores in tables:
        if not (truth["layer"] == layer).any():
            log.info("%s %s: no ground truth, skipped", method, layer)
            continue
        summary, neurons = evaluate_method_layer(table, scores, concept_list, truth,
                                                 embed_clip, embed_sentence)
        summaries[(method, layer)] = summary
        per_neuron.append(neurons.assign(method=method))
        log.info("%s %s: %s", method, layer, {k: round(v, 4) for k, v in summary.items()})
    if not summaries:
        log.warning("no layer has ground truth: the metric tables are empty (evidence without "
                    "ground truth: results/<run>/evidence/)")
    return (table1(summaries), ablation_table(summaries, ablation, list(layers)),
            pd.concat(per_neuron, ignore_index=True) if per_neuron
            else pd.DataFrame(columns=PER_NEURON_COLUMNS))


def claims(per_neuron_files: Sequence[str], concept_files: Sequence[str],
           ablation: Mapping[str, str], n_boot: int = 2000, seed: int = 0,
           log: logging.Logger = _LOG) -> pd.DataFrame:
    """The seeds' claims with paired bootstrap intervals over neurons
    (:func:`conceptlens.claims.claims_table`) from every concept set's
    ``metrics/<set>/per_neuron.parquet`` and its ``concepts/<set>.txt`` (its size)."""
    from pathlib import Path

    from conceptlens.claims import claims_summary, claims_table
    from conceptlens.io.concepts import read_concept_set
    from conceptlens.io.metrics import load_per_neuron
    from conceptlens.io.paths import parse_result_path

    per_neuron = {parse_result_path(path).concept_set: load_per_neuron(path)
                  for path in per_neuron_files}
    sizes = {Path(path).stem: len(read_concept_set(path)) for path in concept_files}
    table = claims_table(per_neuron, sizes, ablation, n_boot, seed)
    for row in claims_summary(table).itertuples(index=False):
        log.info("%s (%s): holds %d, unclear %d, reversed %d", row.claim, row.metric,
                 row.holds, row.unclear, row.reversed)
    return table
