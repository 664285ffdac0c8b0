"""ConVis stages: the localisation run (rule ``convis_localisation``) and the report
neurons' maps (rule ``convis_maps``).

Both take the ConVis ``settings`` of the workflow (``convis_settings()`` in
``rules/convis.smk``): ``clip``, ``pretrained``, ``node_text``, ``template``,
``window_sizes``, ``stride``, ``reference_size``, ``batch_size``, ``device``,
``precision``; the localisation run adds ``images`` (how many probe images it draws) and
``seed``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from conceptlens.hierarchy import Hierarchy
from conceptlens.io.atomic import PathLike
from conceptlens.io.concepts import read_hierarchy_tsv
from conceptlens.io.neurons import read_neurons
from conceptlens.io.probe import ProbeImages, load_split_images, read_attributes, require_columns
from conceptlens.io.views import load_cams
from conceptlens.progress import progress

#: the planted attributes whose ConVis maps the localisation run scores, in table order
ATTRIBUTES = ("shape", "color")
#: the main object's box in a world split's attributes (image pixels, ends exclusive)
BOX = ("main_x0", "main_y0", "main_x1", "main_y1")
METHOD_ORDER = {"convis": 0, "gradcam": 1, "centre": 2}
NEURON_FIELDS = ("layer", "unit", "concept", "image_ids")


class Localisation(NamedTuple):
    """What the localisation stage hands to :func:`conceptlens.io.convis.save_localisation`
    (``table``, ``about``) and :func:`~conceptlens.io.convis.save_localisation_maps`
    (``maps``, its keyword arguments)."""

    table: pd.DataFrame
    maps: dict[str, Any]
    about: dict[str, Any]


def _map_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`conceptlens.convis.convis_maps` in ``settings``."""
    return dict(window_sizes=list(settings["window_sizes"]), stride=int(settings["stride"]),
                reference_size=int(settings["reference_size"]),
                batch_size=int(settings["batch_size"]), precision=settings["precision"])


def hierarchy_name(hierarchy: PathLike | Hierarchy) -> str:
    """How the report names a hierarchy: "world hierarchy" for
    concepts/world_hierarchy.tsv (the file's stem without ``_hierarchy``), "hierarchy" for
    one in memory."""
    if isinstance(hierarchy, Hierarchy):
        return "hierarchy"
    stem = os.path.basename(os.fspath(hierarchy)).split(".")[0].removesuffix("_hierarchy")
    return f"{stem} hierarchy" if stem and stem != "hierarchy" else "hierarchy"


def _load(settings: Mapping[str, Any], hierarchy: PathLike | Hierarchy):
    """(CLIP model, hierarchy, node embeddings) of ``settings``."""
    from conceptlens.convis import load_convis

    tree = hierarchy if isinstance(hierarchy, Hierarchy) else read_hierarchy_tsv(hierarchy)
    return load_convis(settings["clip"], settings["pretrained"], tree, settings["node_text"],
                       settings["template"], settings["device"])


def localisation(split: PathLike, cams: PathLike | np.ndarray, hierarchy: PathLike | Hierarchy,
                 settings: Mapping[str, Any], log: logging.Logger) -> Localisation:
    """ConVis maps of the main object's shape and color on ``settings["images"]`` probe
    images of the world split ``split`` (drawn with ``settings["seed"]``), scored against
    the object's box next to the Grad-CAM (``cams``: ``views/gradcam/cams.npz`` or its
    ``low_res`` maps, one per probe image) and centre-bias baselines."""
    from conceptlens.convis import WindowEncoder, convis_maps, n_windows
    from conceptlens.hierarchy import concept_subtree_masks
    from conceptlens.localisation import (
        centre_bias_maps,
        localisation_table,
        select_images,
        upsample_maps,
    )
    from conceptlens.models.clip import clip_input_size

    attributes = read_attributes(split)
    require_columns(attributes, (*ATTRIBUTES, *BOX), split)
    low_res = (np.asarray(cams, dtype=np.float32) if isinstance(cams, np.ndarray)
               else load_cams(cams)[0])
    if len(low_res) != len(attributes):
        source = "cams" if isinstance(cams, np.ndarray) else cams
        raise ValueError(f"{source}: {len(low_res)} Grad-CAM maps for {len(attributes)} "
                         "probe images")
    seed = int(settings["seed"])
    rows = select_images(len(attributes), int(settings["images"]), seed)
    table = attributes.iloc[rows].reset_index(drop=True)
    images = load_split_images(split, table)
    n, h, w = images.shape[:3]
    boxes = table[list(BOX)].to_numpy(dtype=np.int64)

    model, tree, nodes = _load(settings, hierarchy)
    kwargs = _map_settings(settings)
    encoder = WindowEncoder(model, kwargs["precision"])  # one folded copy for all images
    size = clip_input_size(model)
    windows = n_windows(size, kwargs["window_sizes"], kwargs["stride"], kwargs["reference_size"])
    log.info("ConVis on %d images, %d hierarchy nodes, %d windows per image at %d px",
             n, len(tree), windows, size)

    concepts = np.array([table[a].astype(str).to_numpy() for a in ATTRIBUTES])  # (a, n)
    valid = np.zeros(concepts.shape, dtype=bool)
    maps = np.zeros((len(ATTRIBUTES), n, h, w), dtype=np.float32)
    start = time.perf_counter()
    for i in progress(range(n), desc="ConVis localisation", unit="images", log=log):
        masks, missing = concept_subtree_masks(tree, list(concepts[:, i]))
        ok = ~np.isin(concepts[:, i], missing)
        for concept in missing:
            log.warning("image %d: concept %r is not a hierarchy node; no map",
                        table.image_id[i], concept)
        maps[ok, i] = convis_maps(model, images[i], nodes, masks,
                                  seed=seed + int(table.image_id[i]), encoder=encoder,
                                  **kwargs)
        valid[ok, i] = True
    seconds = (time.perf_counter() - start) / max(n, 1)
    log.info("%.2f s per image (all attributes from one pass)", seconds)

    gradcam = upsample_maps(low_res[rows], h, w)
    centre = centre_bias_maps(n, h, w)
    entries, entry_boxes = {}, {}
    for a, attribute in enumerate(ATTRIBUTES):
        sel = valid[a]
        for method, m in (("convis", maps[a]), ("gradcam", gradcam), ("centre", centre)):
            entries[(method, attribute)] = m[sel]
            entry_boxes[(method, attribute)] = boxes[sel]
    order = {**{a: k for k, a in enumerate(ATTRIBUTES)}, **METHOD_ORDER}
    result = localisation_table(entries, entry_boxes)
    result = result.sort_values(["attribute", "method"], key=lambda s: s.map(order)
                                ).reset_index(drop=True)
    log.info("\n%s", result.to_string(index=False))

    about = {
        "images": [int(i) for i in table.image_id],
        "seconds_per_image": seconds,
        "windows_per_image": windows,
        "hierarchy_nodes": len(tree),
        "params": {"clip": settings["clip"], "node_text": settings["node_text"],
                   "template": settings["template"], **kwargs,
                   "images": int(settings["images"]), "seed": seed},
    }
    return Localisation(result, dict(image_id=table.image_id.to_numpy(), boxes=boxes,
                                     attributes=ATTRIBUTES, concepts=concepts, maps=maps,
                                     valid=valid), about)


def _neuron_list(neurons: PathLike | Mapping | Sequence[Mapping]) -> tuple[list, str]:
    """The neurons of ``report/neurons.json`` (a path, its document or its list), and a
    name for errors."""
    if isinstance(neurons, str | os.PathLike):
        return read_neurons(neurons)["neurons"], str(neurons)
    if isinstance(neurons, Mapping):
        neurons = neurons.get("neurons")
    if not isinstance(neurons, Sequence) or isinstance(neurons, str):
        raise ValueError("neurons: expected a 'neurons' list")
    for k, neuron in enumerate(neurons):
        for field in NEURON_FIELDS:
            if field not in neuron:
                raise ValueError(f"neurons: neuron {k} has no {field!r}")
    return list(neurons), "neurons"


def neuron_maps(neurons: PathLike | Mapping | Sequence[Mapping], split: PathLike,
                hierarchy: PathLike | Hierarchy, settings: Mapping[str, Any],
                log: logging.Logger) -> dict[str, Any]:
    """ConVis maps of each report neuron's concept on its images (``image_ids`` of the probe
    split ``split``), one per (neuron, image); a neuron whose concept is not a hierarchy
    node (or that has no images) is skipped with a warning, and its reason recorded.
    Returns the keyword arguments of :func:`conceptlens.io.convis.save_maps`: ``layer``,
    ``unit``, ``image_id``, ``concept`` (lists), ``maps`` (n, H, W) float32 in [0, 1]
    ((0, 0, 0) when there are none) and ``missing`` (a dict per skipped neuron: layer,
    unit, concept, reason, e.g. "'crescent moon' is not a node of the world
    hierarchy")."""
    from conceptlens.convis import WindowEncoder, convis_maps
    from conceptlens.hierarchy import resolve, subtree_masks

    neurons, source = _neuron_list(neurons)
    probe = ProbeImages(split)
    model, tree, nodes = _load(settings, hierarchy)
    kwargs = _map_settings(settings)
    encoder = WindowEncoder(model, kwargs["precision"])  # one folded copy for all images

    # (layer, unit, image_id, concept) per wanted map, and the concepts wanted on each image
    wanted, roots, per_image, missing = [], {}, defaultdict(list), []
    name = hierarchy_name(hierarchy)
    for neuron in neurons:
        concept = str(neuron["concept"])
        if concept not in roots:
            try:
                roots[concept] = resolve(tree, concept)
            except ValueError as err:
                roots[concept] = None
                log.warning("skipped: %s", err)
        reason = (f"{concept!r} is not a node of the {name}" if roots[concept] is None
                  else "the neuron has no top images" if not len(neuron["image_ids"])
                  else "")
        if reason:
            missing.append({"layer": str(neuron["layer"]), "unit": int(neuron["unit"]),
                            "concept": concept, "reason": reason})
            log.warning("no ConVis map of %s unit %s: %s", neuron["layer"], neuron["unit"],
                        reason)
            continue
        for image_id in neuron["image_ids"]:
            if int(image_id) not in probe.attributes.index:
                raise ValueError(f"{source}: neuron {neuron['layer']}/{neuron['unit']}: image "
                                 f"{image_id} is not in {probe.root / 'attributes.parquet'}")
            wanted.append((str(neuron["layer"]), int(neuron["unit"]), int(image_id), concept))
            if concept not in per_image[int(image_id)]:
                per_image[int(image_id)].append(concept)

    start = time.perf_counter()
    computed = {}
    for image_id, concepts in progress(per_image.items(), total=len(per_image),
                                       desc="ConVis neuron maps", unit="images", log=log):
        masks = subtree_masks(tree, [roots[c] for c in concepts])
        for concept, m in zip(concepts, convis_maps(model, probe[image_id], nodes, masks,
                                                    seed=image_id, encoder=encoder,
                                                    **kwargs)):
            computed[(image_id, concept)] = m
    log.info("%d maps of %d neurons on %d images in %.1f s", len(wanted), len(neurons),
             len(per_image), time.perf_counter() - start)
    maps = (np.stack([computed[(i, c)] for _, _, i, c in wanted]) if wanted
            else np.zeros((0, 0, 0), dtype=np.float32))
    return dict(layer=[x[0] for x in wanted], unit=[x[1] for x in wanted],
                image_id=[x[2] for x in wanted], concept=[x[3] for x in wanted], maps=maps,
                missing=missing)
