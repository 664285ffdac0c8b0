"""Generation of world splits: images, attribute table and captions.

A split directory holds ``images/NNNNNN.png``, ``attributes.parquet`` (one row per image:
the main object's attributes and box, the distractors', the background) and
``captions.parquet`` (image_id, kind, caption).  It is written to a temporary directory
and renamed into place, so a failed run never leaves a split that looks complete.
A split is read back through :mod:`conceptlens.io.probe`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conceptlens.progress import progress
from conceptlens.world.captions import caption_variants
from conceptlens.world.draw import render_scene
from conceptlens.world.scenes import Scene, SceneParams, sample_scene

MAX_DISTRACTORS = 2


@dataclass(frozen=True)
class SplitSpec:
    """What to generate: ``n_images`` scenes of side ``image_size`` from ``seed``."""

    seed: int
    n_images: int
    image_size: int = 64
    central_distractor_probability: float = 0.8

    def scene_params(self) -> SceneParams:
        return SceneParams(central_distractor_probability=self.central_distractor_probability)


def scene_record(index: int, scene: Scene, boxes: np.ndarray) -> dict[str, object]:
    """One attribute-table row for scene ``index`` with its pixel ``boxes`` (n, 4)."""
    m = scene.main
    row: dict[str, object] = {
        "image_id": index,
        "file": f"images/{index:06d}.png",
        "shape": m.shape,
        "color": m.color,
        "texture": m.texture,
        "background": scene.background,
        "main_cx": m.cx,
        "main_cy": m.cy,
        "main_radius": m.radius,
    }
    for name, value in zip(("x0", "y0", "x1", "y1"), boxes[0]):
        row[f"main_{name}"] = int(value)
    row["n_distractors"] = len(scene.distractors)
    for k in range(MAX_DISTRACTORS):
        prefix = f"d{k + 1}_"
        if k < len(scene.distractors):
            d = scene.distractors[k]
            row.update({prefix + "shape": d.shape, prefix + "color": d.color,
                        prefix + "texture": d.texture})
            for name, value in zip(("x0", "y0", "x1", "y1"), boxes[k + 1]):
                row[prefix + name] = int(value)
        else:
            row.update({prefix + "shape": None, prefix + "color": None, prefix + "texture": None})
            for name in ("x0", "y0", "x1", "y1"):
                row[prefix + name] = -1
    return row


def render_images(spec: SplitSpec, indices: Sequence[int]) -> tuple[np.ndarray, list[dict], list[Scene]]:
    """Render scenes ``indices`` of ``spec`` in memory.

    Returns images (n, size, size, 3) uint8, their attribute rows and their scenes.
    """
    params = spec.scene_params()
    images, rows, scenes = [], [], []
    for i in indices:
        scene = sample_scene(spec.seed, int(i), params=params)
        rendered = render_scene(scene, spec.image_size)
        images.append(rendered.image)
        rows.append(scene_record(int(i), scene, rendered.boxes))
        scenes.append(scene)
    size = spec.image_size
    stacked = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    return stacked, rows, scenes


def _write_chunk(args: tuple[SplitSpec, list[int], str]) -> tuple[list[dict], list[dict]]:
    spec, indices, image_dir = args
    images, rows, scenes = render_images(spec, indices)
    captions = []
    for image, row, scene in zip(images, rows, scenes):
        Image.fromarray(image).save(os.path.join(image_dir, f"{row['image_id']:06d}.png"))
        for kind, text in caption_variants(scene).items():
            captions.append({"image_id": row["image_id"], "kind": kind, "caption": text})
    return rows, captions


def write_split(spec: SplitSpec, out_dir: str | os.PathLike, workers: int = 1,
                chunk_size: int = 250) -> Path:
    """Generate the split ``spec`` into ``out_dir`` (replaced atomically)."""
    if spec.n_images <= 0:
        raise ValueError(f"n_images must be positive, got {spec.n_images}")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        image_dir = tmp / "images"
        image_dir.mkdir()
        chunks = [list(range(s, min(s + chunk_size, spec.n_images)))
                  for s in range(0, spec.n_images, chunk_size)]
        jobs = [(spec, c, str(image_dir)) for c in chunks]
        results = []
        with contextlib.ExitStack() as stack:
            pool = (stack.enter_context(ProcessPoolExecutor(max_workers=workers))
                    if workers > 1 else None)
            bar = stack.enter_context(progress(total=spec.n_images, unit="images",
                                               desc=f"world split (seed {spec.seed})"))
            for result in pool.map(_write_chunk, jobs) if pool else map(_write_chunk, jobs):
                results.append(result)
                bar.update(len(result[0]))
        rows = [r for chunk_rows, _ in results for r in chunk_rows]
        captions = [c for _, chunk_captions in results for c in chunk_captions]
        attributes = pd.DataFrame(rows)
        attributes.attrs["spec"] = asdict(spec)
        attributes.to_parquet(tmp / "attributes.parquet", index=False)
        pd.DataFrame(captions).to_parquet(tmp / "captions.parquet", index=False)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
