"""Rule convis_maps: ConVis maps of each report neuron's concept on its images."""

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conceptlens.convis import convis_maps, load_convis
from conceptlens.convis_files import save_maps
from conceptlens.hierarchy import resolve, subtree_masks
from conceptlens.workflow import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    neurons_path = snakemake.input.neurons  # noqa: F821
    neurons = json.loads(Path(neurons_path).read_text()).get("neurons")
    if not isinstance(neurons, list):
        raise ValueError(f"{neurons_path}: expected a 'neurons' list")
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    files = dict(zip(attributes["image_id"].astype(int), attributes["file"]))
    model, tree, nodes = load_convis(p.clip, p.pretrained, snakemake.input.hierarchy,  # noqa: F821
                                     p.node_text, p.template, p.device)
    settings = dict(window_sizes=list(p.window_sizes), stride=int(p.stride),
                    reference_size=int(p.reference_size), batch_size=int(p.batch_size),
                    precision=p.precision)

    # (layer, unit, image_id, concept) per wanted map, and the concepts wanted on each image
    wanted, roots, per_image = [], {}, defaultdict(list)
    for k, neuron in enumerate(neurons):
        for field in ("layer", "unit", "concept", "image_ids"):
            if field not in neuron:
                raise ValueError(f"{neurons_path}: neuron {k} has no {field!r}")
        concept = str(neuron["concept"])
        if concept not in roots:
            try:
                roots[concept] = resolve(tree, concept)
            except ValueError as err:
                roots[concept] = None
                log.warning("skipped: %s", err)
        if roots[concept] is None:
            continue
        for image_id in neuron["image_ids"]:
            if int(image_id) not in files:
                raise ValueError(f"{neurons_path}: neuron {neuron['layer']}/{neuron['unit']}: image "
                                 f"{image_id} is not in {split / 'attributes.parquet'}")
            wanted.append((str(neuron["layer"]), int(neuron["unit"]), int(image_id), concept))
            if concept not in per_image[int(image_id)]:
                per_image[int(image_id)].append(concept)

    start = time.perf_counter()
    computed = {}
    for image_id, concepts in per_image.items():
        with Image.open(split / files[image_id]) as img:
            pixels = np.asarray(img.convert("RGB"))
        masks = subtree_masks(tree, [roots[c] for c in concepts])
        for concept, m in zip(concepts, convis_maps(model, pixels, nodes, masks, seed=image_id, **settings)):
            computed[(image_id, concept)] = m
    log.info("%d maps of %d neurons on %d images in %.1f s", len(wanted), len(neurons),
             len(per_image), time.perf_counter() - start)
    maps = np.stack([computed[(i, c)] for _, _, i, c in wanted]) if wanted else np.zeros((0, 0, 0))
    save_maps(snakemake.output[0], [x[0] for x in wanted], [x[1] for x in wanted],  # noqa: F821
              [x[2] for x in wanted], [x[3] for x in wanted], maps)
