"""Stage of rule ``tune_kappa``: the t-vMF kappa of each ``kappa: tuned`` method, chosen on
the world's tuning split (its own seed and images, never the probe split's).

One job composes, in memory and on the tuning split only, what the methods read on the
probe split: the target's pass with each tuned method's view (and the full view, whose
activations give the planted ground truth by AUROC), the top-k sets, the CLIP embeddings of
those images and the concepts' text embeddings (concept texts, no images of any split).  It
then scores each method with every kappa of ``tuning.kappas`` and keeps the one with the
best mean criterion (F1 or hit rate) over the layers (:mod:`conceptlens.tuning`).  With
``tuning.gradcam_fractions``, it also reports the Grad-CAM window side that the first tuned
Grad-CAM method, at its chosen kappa, would get on the tuning split (reported only).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conceptlens import methods
from conceptlens.tuning import sweep_summary

_LOG = logging.getLogger(__name__)
#: the metrics kept per layer in tuning/kappa.json
KEPT_METRICS = ("hit_rate", "precision", "recall", "f1", "n_neurons")


def layer_metrics(settings: Mapping, layer: str, concepts: list[str], image_ids: np.ndarray,
                  image_emb, text_emb, template_emb, topk: np.ndarray,
                  truth: Mapping) -> dict[str, float]:
    """The describe stage's descriptions of one layer by one method (``settings``), scored
    against ``truth`` ((layer, unit) -> synonyms): :data:`KEPT_METRICS`."""
    from conceptlens.metrics import concepts_by_neuron, evaluate_descriptions
    from conceptlens.stages.describe import describe_layer

    inputs = methods.LayerInputs(image_ids, image_emb, text_emb, template_emb, topk=topk)
    table, _ = describe_layer(settings, layer, concepts, inputs)
    result = evaluate_descriptions(concepts_by_neuron(table), truth)
    return {key: result[key] for key in KEPT_METRICS if key in result}


def _stored(array: np.ndarray):
    """A float32 tensor of ``array`` at the precision the workflow stores it (float16)."""
    import torch

    return torch.from_numpy(np.asarray(array, np.float16).astype(np.float32))


def tune_kappa(split: str | Path, target: Mapping, plan: Mapping[str, Any],
               device: str = "auto", log: logging.Logger = _LOG) -> dict[str, Any]:
    """The tuning result (:mod:`conceptlens.io.tuning`) on the world split ``split`` (the
    tuning split) for the target ``target`` (a :func:`conceptlens.models.zoo.load_target`
    spec).  ``plan``: ``methods`` (name -> ``settings``, ``clip``: key of ``clips``,
    ``text``: the concept set's text embeddings file), ``clips`` (key -> ``clip``: its
    config entry, ``pretrained``), ``layers``, ``kappas``, ``criterion``, ``tolerance``
    (criterion values within it of the best tie; ties go to the paper's kappa),
    ``gradcam_fractions``, ``pass``: the target pass' settings
    (:class:`~conceptlens.stages.target_pass.TargetPassSettings` fields but the layers and
    top-k sizes, set here), ``auroc_threshold``, ``split`` (``seed``, ``images``)."""
    from conceptlens.devices import resolve_device
    from conceptlens.ground_truth import neuron_ground_truth
    from conceptlens.io.embeddings import load_text_embeddings
    from conceptlens.io.probe import probe_files, read_attributes
    from conceptlens.metrics import synonyms_by_neuron
    from conceptlens.models.clip import load_clip
    from conceptlens.models.zoo import load_target
    from conceptlens.stages.clip import embed_image_sets, image_set_ids
    from conceptlens.stages.target_pass import TargetPassSettings, target_pass

    start = time.time()
    tuned = dict(plan["methods"])
    layers, kappas, criterion = list(plan["layers"]), list(plan["kappas"]), plan["criterion"]
    tolerance = float(plan.get("tolerance", 0.0))
    attributes = read_attributes(split)
    files = probe_files(split, attributes)
    torch_device = resolve_device(device)
    loaded = load_target(target, torch_device)

    # the tuned methods' views, and the full view for the ground truth
    views = ["full", *dict.fromkeys(m["settings"]["view"] for m in tuned.values())]
    k = {view: max([1] + [methods.topk_size(m["settings"]) for m in tuned.values()
                          if m["settings"]["view"] == view]) for view in views}
    base = {**plan["pass"], "topk_layers": layers}

    def run_pass(pass_views: Sequence[str], peaks: np.ndarray | None = None,
                 **changed) -> Any:
        settings = TargetPassSettings(**{**base, **changed,
                                         "layers": {v: layers for v in pass_views},
                                         "k": {v: k.get(v, 1) for v in pass_views}})
        return target_pass(split, attributes, target, settings, device, None, log, loaded,
                           peaks)

    recorded = run_pass(views)
    classes = recorded.summary["classes"]
    truth_table = neuron_ground_truth({layer: recorded.activations["full"][layer]
                                       for layer in layers}, attributes, classes,
                                      plan["auroc_threshold"])
    truth = {layer: synonyms_by_neuron(truth_table[truth_table["layer"] == layer])
             for layer in layers}
    log.info("tuning split: %d images, ground truth of %s", len(attributes),
             ", ".join(f"{layer} {len(t)} neurons" for layer, t in truth.items()))

    # the Grad-CAM window sweep: the first tuned method on the Grad-CAM view
    fractions = list(plan.get("gradcam_fractions") or [])
    window_method = next((name for name, m in tuned.items()
                          if m["settings"]["view"] == "gradcam"), None)
    configured = base.get("gradcam_fraction") or base.get("center_fraction")
    windows = {}
    if fractions and window_method is not None:
        for fraction in fractions:
            # the same Grad-CAM peaks, windows of another side: one forward pass each
            windows[fraction] = (recorded if np.isclose(fraction, configured)
                                 else run_pass(["gradcam"], recorded.cams[1],
                                               gradcam_fraction=fraction))
    loaded = None  # the target goes before the CLIP models load

    def image_sets(result) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """view -> (boxes, ids of every top-k image of the described layers)."""
        return {view: (result.boxes[view],
                       image_set_ids("topk", [result.topk[view][layer][0] for layer in layers],
                                     len(files)))
                for view in result.topk if view != "full" or k[view] > 1}

    out_methods: dict[str, Any] = {}
    window: dict[str, Any] | None = None
    for clip_key, clip in plan["clips"].items():
        names = [name for name, m in tuned.items() if m["clip"] == clip_key]
        if not names:
            continue
        model, _, _ = load_clip(clip["clip"]["name"], clip["pretrained"], torch_device)

        def embed(sets, model=model):
            return embed_image_sets(model, files, sets, base.get("batch_size", 64),
                                    base.get("workers", 0), base.get("precision", "float32"),
                                    log)

        embedded = embed(image_sets(recorded))
        for name in names:
            settings, view = tuned[name]["settings"], tuned[name]["settings"]["view"]
            concepts, text, template = load_text_embeddings(tuned[name]["text"],
                                                            settings["template"])
            ids, emb = embedded[view]
            rows = []
            for kappa in kappas:
                at = {**settings, "kappa": float(kappa)}
                rows.append({"kappa": float(kappa), "layers": {
                    layer: layer_metrics(at, layer, concepts, ids, _stored(emb),
                                         _stored(text), _stored(template),
                                         recorded.topk[view][layer][0], truth[layer])
                    for layer in layers}})
            summary = sweep_summary(rows, "kappa", criterion, methods.PAPER_KAPPA, tolerance)
            chosen = summary["chosen"]
            out_methods[name] = {"kappa": chosen, "best": summary["best"], "view": view,
                                 "sweep": summary["sweep"]}
            log.info("%s: kappa %g (best alone %g; %s on the tuning split: %s)", name, chosen,
                     summary["best"], criterion,
                     ", ".join(f"{r['kappa']:g} {r['score']:.4f}" for r in summary["sweep"]))
            if name == window_method and windows:
                rows = []
                at = {**settings, "kappa": chosen}
                for fraction, result in windows.items():
                    (w_ids, w_emb), = embed({"gradcam": image_sets(result)["gradcam"]}
                                            ).values()
                    rows.append({"fraction": float(fraction), "layers": {
                        layer: layer_metrics(at, layer, concepts, w_ids, _stored(w_emb),
                                             _stored(text), _stored(template),
                                             result.topk["gradcam"][layer][0], truth[layer])
                        for layer in layers}})
                fraction_summary = sweep_summary(rows, "fraction", criterion, configured,
                                                 tolerance)
                window = {"method": name, "kappa": chosen, "configured": configured,
                          "chosen": fraction_summary["chosen"],
                          "best": fraction_summary["best"],
                          "sweep": fraction_summary["sweep"]}
                log.info("%s: Grad-CAM window %s would be chosen (configured %s; %s: %s)",
                         name, window["chosen"], configured, criterion,
                         ", ".join(f"{r['fraction']:g} {r['score']:.4f}"
                                   for r in fraction_summary["sweep"]))
        del model
    return {"split": {"name": "tuning", **dict(plan["split"])}, "criterion": criterion,
            "tolerance": tolerance,
            "kappas": [float(x) for x in kappas], "layers": layers, "methods": out_methods,
            "gradcam_fraction": window, "seconds": round(time.time() - start, 1)}
