"""Images of the report: thumbnails, crop boxes, map overlays, strips, PNG data URIs.

Arrays are (H, W, 3) uint8 RGB. Small images (the world's 64 px) are enlarged by an integer
factor with nearest neighbours, so pixels stay crisp; large ones are reduced (Lanczos).
"""

from __future__ import annotations

import base64
import io
import os

import matplotlib
import numpy as np
from PIL import Image

BOX_COLORS: dict[str, tuple[int, int, int]] = {"center": (255, 140, 0), "gradcam": (0, 229, 255)}
"""Colour of each view's crop box (the legend in the template uses the same)."""
THUMB_SIDE = 128
"""Target side (px) of an image in the grids."""


def fit(image: np.ndarray, side: int = THUMB_SIDE) -> tuple[np.ndarray, float]:
    """Scale ``image`` so its longer side is about ``side`` px: an integer nearest-neighbour
    enlargement (largest factor that fits, at least 1) or a Lanczos reduction.
    Returns (image, scale factor)."""
    h, w = image.shape[:2]
    longer = max(h, w)
    if longer <= side:
        f = max(1, side // longer)
        return np.repeat(np.repeat(image, f, axis=0), f, axis=1), float(f)
    scale = side / longer
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)), scale


def draw_box(image: np.ndarray, box: np.ndarray | tuple, scale: float,
             color: tuple[int, int, int], width: int = 2) -> np.ndarray:
    """A copy of ``image`` with the outline of ``box`` (x0, y0, x1, y1 in original pixels,
    ends exclusive) drawn ``width`` px wide, inside the box, after scaling by ``scale``."""
    out = image.copy()
    h, w = out.shape[:2]
    x0, y0, x1, y1 = (float(v) * scale for v in box)
    x0, y0 = int(np.clip(round(x0), 0, w - 1)), int(np.clip(round(y0), 0, h - 1))
    x1, y1 = int(np.clip(round(x1), x0 + 1, w)), int(np.clip(round(y1), y0 + 1, h))
    c = np.asarray(color, dtype=np.uint8)
    out[y0:min(y0 + width, y1), x0:x1] = c
    out[max(y1 - width, y0):y1, x0:x1] = c
    out[y0:y1, x0:min(x0 + width, x1)] = c
    out[y0:y1, max(x1 - width, x0):x1] = c
    return out


def colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (shape + (3,)) with a matplotlib colormap."""
    rgba = matplotlib.colormaps[name](np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255 + 0.5).astype(np.uint8)


def resize_map(heat: np.ndarray, height: int, width: int) -> np.ndarray:
    """A float map (h, w) resized to (height, width): nearest for integer enlargements,
    bilinear otherwise."""
    h, w = heat.shape
    if height % h == 0 and width % w == 0 and height // h == width // w:
        f = height // h
        return np.repeat(np.repeat(heat, f, axis=0), f, axis=1)
    img = Image.fromarray(heat.astype(np.float32))
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR))


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6,
            cmap: str = "inferno") -> np.ndarray:
    """``heat`` (h, w) in [0, 1] coloured with ``cmap`` and blended over ``image`` (opacity
    ``alpha``); the map is resized to the image."""
    heat = resize_map(np.asarray(heat, dtype=np.float32), *image.shape[:2])
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colormap(heat, cmap)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def hstack(images: list[np.ndarray], gap: int = 4, fill: int = 255) -> np.ndarray:
    """Images side by side, top-aligned, ``gap`` px of ``fill`` between them."""
    if not images:
        raise ValueError("hstack needs at least one image")
    height = max(im.shape[0] for im in images)
    parts = []
    for k, im in enumerate(images):
        if im.shape[0] < height:
            pad = np.full((height - im.shape[0], im.shape[1], 3), fill, np.uint8)
            im = np.concatenate([im, pad], axis=0)
        parts.append(im)
        if k < len(images) - 1 and gap:
            parts.append(np.full((height, gap, 3), fill, np.uint8))
    return np.concatenate(parts, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of a uint8 (H, W, 3) array (zlib level 6: 6x faster than 9, +0.5% size)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_data_uri(image: np.ndarray) -> str:
    """An array as a PNG data URI."""
    return data_uri(png_bytes(image))


def png_file_uri(path: str | os.PathLike, max_width: int = 1600) -> str:
    """A PNG file as a data URI, reduced to ``max_width`` px (Lanczos) when wider."""
    from conceptlens.images import open_image

    with open_image(path, what="figure") as img:
        if img.width > max_width:
            img = img.resize((max_width, round(img.height * max_width / img.width)),
                             Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return data_uri(buf.getvalue())


def colorbar(width: int = 160, height: int = 10, cmap: str = "inferno") -> np.ndarray:
    """A horizontal colour ramp 0 -> 1 of ``cmap`` (the ConVis legend)."""
    ramp = np.tile(np.linspace(0.0, 1.0, width), (height, 1))
    return colormap(ramp, cmap)
