"""Rendering of world scenes to RGB pixels, object masks and bounding boxes.

Objects are drawn on a supersampled canvas and area-averaged down, so edges are
anti-aliased.  Boxes are ``(x0, y0, x1, y1)`` in output pixels, ``x1``/``y1`` exclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from conceptlens.world.scenes import ObjectSpec, Scene
from conceptlens.world.vocabulary import BACKGROUND_TINT, BACKGROUNDS, COLORS

DARK_SHADE = 0.35  # stripes and dots are the object's color times this factor


def _regular_polygon(n: int, start_degrees: float) -> np.ndarray:
    angles = np.radians(start_degrees + 360.0 * np.arange(n) / n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    angles = np.radians(-90.0 + 36.0 * np.arange(10))
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(half_width: float = 0.33) -> np.ndarray:
    w = half_width
    pts = np.array([(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1),
                    (-w, w), (-1, w), (-1, -w), (-w, -w)], dtype=float)
    return pts / math.hypot(1.0, w)


def _heart(n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], axis=1)
    pts -= (pts.max(axis=0) + pts.min(axis=0)) / 2
    return pts / np.hypot(pts[:, 0], pts[:, 1]).max()


def _arrow() -> np.ndarray:
    pts = np.array([(-1, -0.22), (0.15, -0.22), (0.15, -0.62), (1, 0), (0.15, 0.62),
                    (0.15, 0.22), (-1, 0.22)], dtype=float)
    return pts / np.hypot(pts[:, 0], pts[:, 1]).max()


# Outlines with unit circumradius, centred on the origin, y pointing down.
POLYGONS: dict[str, np.ndarray] = {
    "square": _regular_polygon(4, 45.0),
    "triangle": _regular_polygon(3, -90.0) * np.array([1.0, 1.0]) + np.array([0.0, 0.12]),
    # A tall rhombus: a regular hexagon (an earlier shape) drew almost the circle's disc at
    # 64 px, and the classifier confused the two.
    "diamond": np.array([[0.0, -1.0], [0.62, 0.0], [0.0, 1.0], [-0.62, 0.0]]),
    "star": _star(),
    "cross": _cross(),
    "heart": _heart(),
    "arrow": _arrow(),
}


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def object_mask(obj: ObjectSpec, canvas: int) -> np.ndarray:
    """Coverage mask of ``obj`` on a ``canvas`` x ``canvas`` grid, float32 in {0, 1}."""
    img = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(img)
    cx, cy, r = obj.cx * canvas, obj.cy * canvas, obj.radius * canvas

    def disc(x: float, y: float, radius: float, fill: int) -> None:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)

    if obj.shape == "circle":
        disc(cx, cy, 0.88 * r, 255)
    elif obj.shape == "ring":
        disc(cx, cy, 0.95 * r, 255)
        disc(cx, cy, 0.52 * r, 0)
    elif obj.shape == "crescent":
        disc(cx, cy, 0.95 * r, 255)
        dx, dy = _rotate(np.array([[0.42, -0.22]]), obj.angle)[0] * r
        disc(cx + dx, cy + dy, 0.8 * r, 0)
    elif obj.shape in POLYGONS:
        pts = _rotate(POLYGONS[obj.shape], obj.angle) * r + np.array([cx, cy])
        draw.polygon([tuple(p) for p in pts], fill=255)
    else:
        raise ValueError(f"unknown shape {obj.shape!r}; known: circle, ring, crescent, "
                         f"{', '.join(POLYGONS)}")
    return np.asarray(img, dtype=np.float32) / 255.0


def texture_pattern(obj: ObjectSpec, canvas: int, size: int,
                    window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Where the object is drawn dark (1) rather than in its color (0), on the canvas.

    Stripes have a period of ``size / 13`` output pixels; dots sit on a grid of the same
    spacing.  ``size`` is the output side, ``canvas`` the supersampled one.  ``window``
    (x0, y0, x1, y1) restricts the result to that part of the canvas.
    """
    x0, y0, x1, y1 = window or (0, 0, canvas, canvas)
    if obj.texture == "plain":
        return np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    scale = canvas / size
    period = size / 13.0 * scale
    y, x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    if obj.texture == "striped":
        u = x * math.cos(obj.stripe_angle) + y * math.sin(obj.stripe_angle)
        return ((u / period) % 1.0 < 0.5).astype(np.float32)
    if obj.texture == "dotted":
        gx = (x - obj.cx * canvas) / period
        gy = (y - obj.cy * canvas) / period
        d = np.hypot(gx - np.round(gx), gy - np.round(gy))
        return (d < 0.3).astype(np.float32)
    raise ValueError(f"unknown texture {obj.texture!r}; known: plain, striped, dotted")


def background_pixels(name: str, noise_seed: int, size: int) -> np.ndarray:
    """The background, (size, size, 3) float32 in 0..255."""
    if name not in BACKGROUNDS:
        raise ValueError(f"unknown background {name!r}; known: {', '.join(BACKGROUNDS)}")
    level, noise_std = BACKGROUNDS[name]
    gray = np.full((size, size), float(level), dtype=np.float32)
    if noise_std > 0:
        rng = np.random.default_rng(noise_seed)
        gray += rng.normal(0.0, noise_std, size=(size, size)).astype(np.float32)
    rgb = gray[..., None] * np.asarray(BACKGROUND_TINT[name], dtype=np.float32)
    return np.clip(rgb, 0, 255)


@dataclass
class RenderedScene:
    """Pixels and per-object geometry of a rendered scene."""

    image: np.ndarray  # (size, size, 3) uint8
    masks: np.ndarray  # (n_objects, size, size) float32 coverage in [0, 1]
    boxes: np.ndarray  # (n_objects, 4) int32, x0 y0 x1 y1, exclusive ends


def _downsample(a: np.ndarray, factor: int) -> np.ndarray:
    h, w = a.shape[:2]
    return a.reshape(h // factor, factor, w // factor, factor, *a.shape[2:]).mean(axis=(1, 3))


def render_scene(scene: Scene, size: int = 64, supersample: int = 4) -> RenderedScene:
    """Render ``scene`` to a ``size`` x ``size`` RGB image with masks and boxes."""
    canvas = size * supersample
    bg = background_pixels(scene.background, scene.noise_seed, size)
    pixels = np.repeat(np.repeat(bg, supersample, axis=0), supersample, axis=1)
    masks, boxes = [], []
    for obj in scene.objects:
        mask = object_mask(obj, canvas)
        ys, xs = np.nonzero(mask > 0)
        if len(xs) == 0:
            raise ValueError(f"object {obj} is not visible at size {size}")
        box = (xs.min() // supersample, ys.min() // supersample,
               xs.max() // supersample + 1, ys.max() // supersample + 1)
        boxes.append(box)
        x0, y0, x1, y1 = (int(v) * supersample for v in box)
        dark = texture_pattern(obj, canvas, size, (x0, y0, x1, y1))
        color = np.asarray(COLORS[obj.color], dtype=np.float32)
        obj_rgb = color * (1.0 - (1.0 - DARK_SHADE) * dark[..., None])
        m = mask[y0:y1, x0:x1, None]
        pixels[y0:y1, x0:x1] = pixels[y0:y1, x0:x1] * (1.0 - m) + obj_rgb * m
        masks.append(_downsample(mask, supersample))
    image = np.clip(np.round(_downsample(pixels, supersample)), 0, 255).astype(np.uint8)
    return RenderedScene(image=image, masks=np.stack(masks).astype(np.float32),
                         boxes=np.asarray(boxes, dtype=np.int32))
