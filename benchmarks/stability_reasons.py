"""Why the world's CLIP-Dissect labels are less stable under k than the published ones:
two candidate reasons, measured on a finished run.

    .venv/bin/python benchmarks/stability_reasons.py [--run world] [--layer layer4]

1. Near-synonyms (circle, disc, disk) swapping places: the top-5 "same set" share with
   each label mapped to its world value (synonyms merged), beside the plain share.
2. The probe set's size (2,000 world images; Broden has 63,305): the same shares on
   random probe subsets of 500 and 1,000 images (3 draws each) and on the whole set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from conceptlens.io.activations import load_activations
from conceptlens.io.embeddings import load_image_embeddings, load_text_embeddings
from conceptlens.stability import layer_stability
from conceptlens.world.vocabulary import WorldVocabulary, synonyms_of

FUNCTIONS = ("soft_wpmi", "wpmi")


def world_value_of() -> dict[str, str]:
    """Every world synonym -> its attribute value."""
    return {s: v for values in WorldVocabulary().attribute_values().values() for v in values
            for s in synonyms_of(v)}


def same_set_shares(per_neuron: pd.DataFrame, merge: dict[str, str] | None = None
                    ) -> dict[str, float]:
    """% of neurons whose top-5 set at k = 5 equals that at k = 10 and 16 (labels mapped
    through ``merge`` first, when given)."""
    merge = merge or {}

    def sets(column: str) -> pd.Series:
        return per_neuron[column].map(lambda labels: frozenset(merge.get(x, x) for x in labels))

    return {f"5->{k}": 100 * float((sets("top5_k5") == sets(f"top5_k{k}")).mean())
            for k in (10, 16)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="world")
    parser.add_argument("--layer", default="layer4")
    parser.add_argument("--concepts", default="world")
    args = parser.parse_args()
    out = Path("results") / args.run
    merge = world_value_of()
    print("1. synonyms merged (pooled over the stability layers):")
    for fn in FUNCTIONS:
        per_neuron = pd.read_parquet(out / "stability" / args.concepts / f"{fn}.parquet")
        print(f"  {fn}: plain {same_set_shares(per_neuron)}, merged "
              f"{same_set_shares(per_neuron, merge)}")
    concepts, text, _ = load_text_embeddings(out / f"clip/world/text/{args.concepts}.npz", "bare")
    ids, images = load_image_embeddings(out / "clip/world/images.npz", "full.all")
    acts, _ = load_activations(out / f"activations/full/{args.layer}.npz")
    clip = torch.from_numpy(images) @ torch.from_numpy(text).T
    gen = np.random.default_rng(0)
    print(f"2. probe size ({args.layer}; same top-5 set 5->10, 5->16, top-1 5->16, %):")
    for n in (500, 1000, len(ids)):
        for fn in FUNCTIONS:
            draws = []
            for _ in range(3 if n < len(ids) else 1):
                rows = np.sort(gen.choice(len(ids), n, replace=False))
                d = layer_stability(args.layer, clip[rows], torch.from_numpy(acts[rows]), fn,
                                    concepts)
                draws.append([100 * d["same_5_10"].mean(), 100 * d["same_5_16"].mean(),
                              100 * d["top1_5_16"].mean()])
            print(f"  {n} images, {fn}: {np.round(np.mean(draws, axis=0), 1).tolist()}")


if __name__ == "__main__":
    main()
