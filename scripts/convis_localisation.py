"""Rule convis_localisation: ConVis maps of the main object's shape and color on probe images,
scored against the object's box next to the Grad-CAM and centre-bias baselines."""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from conceptlens.convis import (
    convis_maps,
    load_convis,
    n_windows,
)
from conceptlens.convis_files import save_localisation_maps
from conceptlens.files import atomic_write_text
from conceptlens.hierarchy import concept_subtree_masks
from conceptlens.localisation import (
    centre_bias_maps,
    localisation_table,
    select_images,
    upsample_maps,
)
from conceptlens.models.clip import clip_input_size
from conceptlens.workflow import rule_context
from conceptlens.world.generate import load_split_images

ATTRIBUTES = ("shape", "color")
BOX = ["main_x0", "main_y0", "main_x1", "main_y1"]

with rule_context(snakemake) as log:  # noqa: F821
    p = snakemake.params  # noqa: F821
    split = Path(snakemake.input.split)  # noqa: F821
    attributes = pd.read_parquet(split / "attributes.parquet")
    missing_columns = [c for c in (*ATTRIBUTES, *BOX) if c not in attributes.columns]
    if missing_columns:
        raise ValueError(f"{split / 'attributes.parquet'}: missing columns {missing_columns}")
    low_res = np.load(snakemake.input.cams)["low_res"].astype(np.float32)  # noqa: F821
    if len(low_res) != len(attributes):
        raise ValueError(f"{snakemake.input.cams}: {len(low_res)} Grad-CAM maps for "  # noqa: F821
                         f"{len(attributes)} probe images")
    rows = select_images(len(attributes), int(p.images), int(p.seed))
    table = attributes.iloc[rows].reset_index(drop=True)
    images = load_split_images(split, table)
    n, h, w = images.shape[:3]
    boxes = table[BOX].to_numpy(dtype=np.int64)

    model, tree, nodes = load_convis(p.clip, p.pretrained, snakemake.input.hierarchy,  # noqa: F821
                                     p.node_text, p.template, p.device)
    settings = dict(window_sizes=list(p.window_sizes), stride=int(p.stride),
                    reference_size=int(p.reference_size), batch_size=int(p.batch_size),
                    precision=p.precision)
    size = clip_input_size(model)
    log.info("ConVis on %d images, %d hierarchy nodes, %d windows per image at %d px",
             n, len(tree), n_windows(size, p.window_sizes, p.stride, p.reference_size), size)

    concepts = np.array([table[a].astype(str).to_numpy() for a in ATTRIBUTES])  # (a, n)
    valid = np.zeros(concepts.shape, dtype=bool)
    maps = np.zeros((len(ATTRIBUTES), n, h, w), dtype=np.float32)
    start = time.perf_counter()
    for i in range(n):
        masks, missing = concept_subtree_masks(tree, list(concepts[:, i]))
        ok = ~np.isin(concepts[:, i], missing)
        for concept in missing:
            log.warning("image %d: concept %r is not a hierarchy node; no map", table.image_id[i], concept)
        maps[ok, i] = convis_maps(model, images[i], nodes, masks, seed=int(p.seed) + int(table.image_id[i]),
                                  **settings)
        valid[ok, i] = True
    seconds = time.perf_counter() - start
    log.info("%.2f s per image (all attributes from one pass)", seconds / max(n, 1))

    gradcam = upsample_maps(low_res[rows], h, w)
    centre = centre_bias_maps(n, h, w)
    entries, entry_boxes = {}, {}
    for a, attribute in enumerate(ATTRIBUTES):
        sel = valid[a]
        for method, m in (("convis", maps[a]), ("gradcam", gradcam), ("centre", centre)):
            entries[(method, attribute)] = m[sel]
            entry_boxes[(method, attribute)] = boxes[sel]
    result = localisation_table(entries, entry_boxes)
    result = result.sort_values(["attribute", "method"], key=lambda s: s.map(
        {"shape": 0, "color": 1, "convis": 0, "gradcam": 1, "centre": 2})).reset_index(drop=True)
    log.info("\n%s", result.to_string(index=False))

    save_localisation_maps(snakemake.output.maps, table.image_id.to_numpy(), boxes,  # noqa: F821
                           ATTRIBUTES, concepts, maps, valid)
    atomic_write_text(snakemake.output.csv, result.to_csv(index=False))  # noqa: F821
    atomic_write_text(snakemake.output.json, json.dumps({  # noqa: F821
        "table": json.loads(result.to_json(orient="records")),  # NaN -> null
        "images": [int(i) for i in table.image_id],
        "seconds_per_image": seconds / max(n, 1),
        "windows_per_image": n_windows(size, p.window_sizes, p.stride, p.reference_size),
        "hierarchy_nodes": len(tree),
        "params": {"clip": p.clip, "node_text": p.node_text, "template": p.template, **settings,
                   "images": int(p.images), "seed": int(p.seed)},
    }, indent=2))
