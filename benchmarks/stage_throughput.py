"""Throughput of each heavy stage of the paper preset at its real sizes, with random-weight
real architectures (torchvision resnet50, open_clip ViT-B-32), on CPU or GPU.

    python benchmarks/stage_throughput.py [--images 512] [--device auto]
        [--precision autocast] [--concepts 20000] [--json out.json]

Stages: reading + cropping JPEGs (DataLoader workers), Grad-CAM at layer4, activations of
layer4 + fc, CLIP image embeddings, CLIP text embeddings, WWW t-vMF scoring of 2,048
neurons x 40 images x the concepts.  Prints items per second and the time these predict
for the preset on full ImageNet val (50,000 images; 82,115 + 1,197 + 1,000 concepts).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

FULL_IMAGES = 50_000
FULL_CONCEPTS = 82_115 + 1_197 + 1_000
NEURONS = 2_048 + 1_000


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device: torch.device, fn, *args, **kwargs):
    _sync(device)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    _sync(device)
    return out, time.perf_counter() - start


def jpegs(root: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        w, h = int(rng.integers(333, 500)), int(rng.integers(333, 500))
        base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        path = root / f"{i:05d}.JPEG"
        Image.fromarray(np.kron(base, np.ones((8, 8, 1), np.uint8))[:h, :w]).save(path, quality=90)
        files.append(path)
    return files


def main(argv: list[str] | None = None) -> dict:
    from conceptlens.activations import record_activations
    from conceptlens.devices import precision_context, resolve_device
    from conceptlens.embeddings import embed_concepts
    from conceptlens.models.clip import clip_input_size, clip_normalize_float, load_clip
    from conceptlens.models.zoo import load_target, target_preprocess
    from conceptlens.probes import image_sizes
    from conceptlens.scoring import www_scores
    from conceptlens.views import gradcam_maps, square_boxes, view_loader

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="autocast", choices=("float32", "autocast"))
    parser.add_argument("--concepts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    spec = {"source": "torchvision", "name": "resnet50", "weights": None, "input_size": 224}
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = jpegs(Path(tmp), args.images)
        boxes = square_boxes(image_sizes(files), 0.875)
        model, _ = load_target(spec, device)
        pre = target_preprocess(spec)

        def load_all():
            return [x for x in view_loader(files, boxes, 224, args.batch_size, args.workers)]

        batches, seconds = timed(device, load_all)
        rates["read_and_crop_images"] = args.images / seconds

        def gradcam():
            for x in batches:
                gradcam_maps(model, model.layer4, pre.normalize(x.to(device)))

        rates["gradcam_layer4"] = args.images / timed(device, gradcam)[1]

        def activations():
            with precision_context(args.precision, device):
                return record_activations(model, (pre.normalize(x.to(device)) for x in batches),
                                          ["layer4", "fc"], "mean", device)

        activations()  # warm-up (cuDNN autotuning)
        acts, seconds = timed(device, activations)
        rates["activations_layer4_fc"] = args.images / seconds
        clip, _, tokenizer = load_clip("ViT-B-32", None, device)
        size = clip_input_size(clip)

        def image_embeddings():
            out = []
            with torch.no_grad(), precision_context(args.precision, device):
                for x in batches:
                    x = torch.nn.functional.interpolate(x.to(device), size=(size, size),
                                                        mode="bilinear", antialias=True)
                    out.append(clip.encode_image(clip_normalize_float(clip, x)).float())
            return torch.nn.functional.normalize(torch.cat(out), dim=-1)

        image_emb, seconds = timed(device, image_embeddings)
        rates["clip_image_embeddings"] = args.images / seconds
        concepts = [f"concept {i}" for i in range(args.concepts)]

        def text_embeddings():
            with precision_context(args.precision, device):
                return embed_concepts(clip, tokenizer, concepts, "A photo of a {}")

        (text_emb, alone), seconds = timed(device, text_embeddings)
        rates["clip_text_embeddings"] = args.concepts / seconds
        topk = torch.from_numpy(np.argsort(-acts["layer4"], axis=0)[:40].T.copy())
        if len(image_emb) < 40:
            raise SystemExit("--images must be at least 40")

        def scoring():
            return www_scores(image_emb.to(device), topk.to(device),
                              torch.from_numpy(text_emb).to(device),
                              torch.from_numpy(alone).to(device), similarity="tvmf", kappa=1.0)

        _, seconds = timed(device, scoring)
        rates["www_tvmf_scores_2048_neurons"] = args.concepts / seconds
    # Each image job reads the JPEGs again, with workers overlapping the model: a job takes
    # the longer of the two.  One Grad-CAM job; activations and CLIP on three views each.
    read = 1 / rates["read_and_crop_images"]
    per_image = max(read, 1 / rates["gradcam_layer4"])
    per_image += 3 * max(read, 1 / rates["activations_layer4_fc"])
    per_image += 3 * max(read, 1 / rates["clip_image_embeddings"])
    estimate = {
        "image_stages_hours": per_image * FULL_IMAGES / 3600,
        "text_embedding_minutes": 2 * FULL_CONCEPTS / rates["clip_text_embeddings"] / 60,
        "www_scoring_minutes_per_method": FULL_CONCEPTS / rates["www_tvmf_scores_2048_neurons"]
        * NEURONS / 2048 / 60,
    }
    result = {"device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda"
              else None, "precision": args.precision, "images": args.images,
              "items_per_second": rates, "full_imagenet_estimate": estimate}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
