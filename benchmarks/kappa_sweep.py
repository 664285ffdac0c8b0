"""Choose the t-vMF kappa from measurements: sweep kappa on a finished run.

    .venv/bin/python benchmarks/kappa_sweep.py [--run world] [--view gradcam] [--k 40]

Reads results/<run>/ (top-k sets, CLIP embeddings of the view and of the world concept
set, ground truth) and prints, for each kappa, the hit rate and F1 of the WWW-family
selection (alpha 0.95) on every layer with ground truth. kappa = 0 is cosine.

A diagnostic only: it sweeps the evaluated probe split, which must not choose kappa.  The
workflow chooses `kappa: tuned` on the world's separate tuning split (rule tune_kappa,
results/<run>/tuning/kappa.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from conceptlens.describe import descriptions_table
from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings
from conceptlens.io.topk import load_topk
from conceptlens.methods import rows_of
from conceptlens.metrics import concepts_by_neuron, evaluate_descriptions, synonyms_by_neuron
from conceptlens.scoring import select_concepts, www_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="world")
    parser.add_argument("--view", default="gradcam")
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--kappas", default="0,1,2,4,8,16,32,64")
    args = parser.parse_args()
    out = Path("results") / args.run
    gt = pd.read_parquet(out / "ground_truth" / "neurons.parquet")
    concepts, text, template = (torch.from_numpy(x) if isinstance(x, np.ndarray) else x for x in
                                load_text_embeddings(out / "clip/world/text/world.npz", "photo"))
    ids, images = load_image_embeddings(out / "clip/world/images.npz", f"{args.view}.topk")
    images = torch.from_numpy(images)
    rows_out = []
    for layer in sorted(gt["layer"].unique()):
        topk, _ = load_topk(out / f"topk/{args.view}/{layer}.npz", args.k)
        rows = torch.from_numpy(rows_of(ids, topk))
        truth = synonyms_by_neuron(gt[gt["layer"] == layer])
        for kappa in (float(x) for x in args.kappas.split(",")):
            sim = "cosine" if kappa == 0 else "tvmf"
            scores = www_scores(images, rows, text, template, similarity=sim, kappa=kappa or None)
            sel = select_concepts(scores, 0.95)
            table = descriptions_table(layer, scores, concepts, sel.mask, sel.weak)
            m = evaluate_descriptions(concepts_by_neuron(table), truth)
            rows_out.append({"layer": layer, "kappa": kappa, "hit_rate": m["hit_rate"],
                             "f1": m["f1"], "precision": m["precision"],
                             "n_selected": table["concepts"].map(len).mean()})
    print(pd.DataFrame(rows_out).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
