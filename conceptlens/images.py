"""Decoding image files: every image the package reads goes through this module.

:func:`load_rgb` opens a file, decodes all of its pixels and returns an 8-bit RGB PIL
image; a file that cannot be decoded (truncated, corrupt, not an image) raises
:class:`ImageDecodeError`, one line naming the file, the reason and the fix.
:func:`check_image` decodes a file as cheaply as it can (JPEG at 1/8 scale) to find such
files before any heavy job; :func:`to_rgb` is the mode conversion alone.

Modes (:func:`to_rgb`):

- 16-bit grey (``I;16``, ``I;16B``, ...): value / 257, rounded (65535 -> 255, 32896 -> 128);
- ``I`` (32-bit int) and ``F`` (float): value * 255 / full scale, where the full scale is
  the smallest of 1 (``F`` only), 255 and 65535 at or above the image's maximum, else the
  maximum itself; negative and non-finite values become 0;
- transparency (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa``/``La``, and ``P``, ``L``
  or ``RGB`` with a transparent colour): composited over white (:data:`BACKGROUND`, as
  a viewer shows it; dropping alpha would expose the colour stored under transparent
  pixels, often black);
- anything else (``L``, ``P``, ``1``, ``CMYK``, ``YCbCr``, ...): PIL's conversion.

EXIF orientation is not applied (as torchvision's loaders), so sizes match the header.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from conceptlens.errors import InputError

#: colour that transparent pixels are composited over
BACKGROUND = (255, 255, 255)
#: images with a shorter side under this many px are flagged as tiny (see
#: :func:`tiny_images`): their view crops are a few px, upsampled to the model's input
MIN_SIDE = 8
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WORKER_TRACEBACK = "Original Traceback"


class ImageDecodeError(InputError, ValueError):
    """An image file cannot be decoded; the one-line message names the file, what is
    wrong and what to do.  Re-raised by a torch DataLoader from a worker (whose message
    is the worker's whole traceback), it keeps the original line only."""

    def __init__(self, message: str):
        super().__init__(_original_line(message))


def _original_line(message: str) -> str:
    """The worker's own message of a DataLoader's re-raised error, else ``message``."""
    if _WORKER_TRACEBACK not in message:
        return message
    name = f"{ImageDecodeError.__name__}: "
    lines = [line for line in message.splitlines() if name in line]
    return lines[-1].split(name, 1)[1] if lines else message


def decode_error(path: str | os.PathLike, err: BaseException, what: str = "image",
                 source: str | None = None) -> ImageDecodeError:
    """The error for ``path`` that failed to decode with ``err``; ``what`` names the
    file's role (``probe image``), ``source`` where it was configured (``config key
    probe.path: /data/x``)."""
    if isinstance(err, FileNotFoundError):
        problem, fix = "does not exist", "restore it or re-index the probe set"
    elif isinstance(err, UnidentifiedImageError):
        problem, fix = "is not an image PIL can read", "remove or re-save it"
    elif isinstance(err, Image.DecompressionBombError):
        problem, fix = f"is too large ({err})", "resize it"
    else:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        problem, fix = f"cannot be decoded ({reason})", "remove or re-save it"
    where = f" ({source})" if source else ""
    return ImageDecodeError(f"{what} {path} {problem}: {fix}{where}")


def decode(img: Image.Image, path: str | os.PathLike | None = None, *,
           draft: tuple[int, int] | None = None, what: str = "image",
           source: str | None = None) -> Image.Image:
    """``img`` (opened, not yet loaded) with all of its pixels decoded.  ``draft``: a
    JPEG is decoded at the smallest scale (1/2, 1/4, 1/8) still at least this (w, h)."""
    path = path or getattr(img, "filename", None) or "<in memory>"
    try:
        if draft is not None and img.format == "JPEG":
            img.draft(None, draft)
        img.load()
    except Exception as err:  # any failure to decode a file is the file's problem
        raise decode_error(path, err, what, source) from err
    return img


def open_image(path: str | os.PathLike, *, draft: tuple[int, int] | None = None,
               what: str = "image", source: str | None = None) -> Image.Image:
    """The image file ``path`` decoded, in its own mode (see :func:`decode`)."""
    try:
        img = Image.open(path)
    except Exception as err:
        raise decode_error(path, err, what, source) from err
    return decode(img, path, draft=draft, what=what, source=source)


def load_rgb(path: str | os.PathLike, *, draft: tuple[int, int] | None = None,
             what: str = "image", source: str | None = None) -> Image.Image:
    """The image file ``path`` as 8-bit RGB (:func:`to_rgb`); a file that cannot be
    decoded is an :class:`ImageDecodeError`."""
    with open_image(path, draft=draft, what=what, source=source) as img:
        rgb = to_rgb(img)
        return img.copy() if rgb is img else rgb  # closing an image empties it


def load_rgb_array(path: str | os.PathLike, *, what: str = "image",
                   source: str | None = None) -> np.ndarray:
    """The image file ``path`` as (H, W, 3) uint8 RGB (:func:`load_rgb`)."""
    return np.array(load_rgb(path, what=what, source=source))


def check_image(path: str | os.PathLike, *, what: str = "image",
                source: str | None = None) -> tuple[int, int]:
    """(width, height) px of the image file ``path`` after decoding all of it (a JPEG at
    1/8 scale: every compressed byte is still read, so truncation is found), else an
    :class:`ImageDecodeError`."""
    try:
        img = Image.open(path)
    except Exception as err:
        raise decode_error(path, err, what, source) from err
    with img:
        size = img.size
        decode(img, path, draft=(1, 1), what=what, source=source)
    return size


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` as 8-bit RGB, by the rules in the module's docstring."""
    mode = img.mode
    if mode.startswith("I;16"):
        grey = np.rint(np.asarray(img, dtype=np.float64) / 257.0)
        return Image.fromarray(grey.astype(np.uint8), mode="L").convert("RGB")
    if mode in ("I", "F"):
        return Image.fromarray(_full_scale_uint8(np.asarray(img, dtype=np.float64),
                                                 mode == "F"), mode="L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if mode == "RGB" else img.convert("RGB")


def _full_scale_uint8(values: np.ndarray, unit_scale: bool) -> np.ndarray:
    """``values`` * 255 / full scale (see the module's docstring) as uint8."""
    values = np.where(np.isfinite(values), values, 0.0).clip(min=0.0)
    peak = float(values.max()) if values.size else 0.0
    scales = ((1.0,) if unit_scale else ()) + (255.0, 65535.0)
    scale = next((s for s in scales if peak <= s), peak)
    return np.rint(values * (255.0 / scale)).clip(0, 255).astype(np.uint8)


def tiny_images(files: list[Path] | list[str], sizes: np.ndarray, min_side: int = MIN_SIDE
                ) -> str | None:
    """A one-line warning when images of ``sizes`` (n, 2) width, height px have a shorter
    side under ``min_side`` (their count and the first one), else None."""
    small = np.flatnonzero(np.asarray(sizes).reshape(-1, 2).min(axis=1) < min_side)
    if not len(small):
        return None
    first = small[0]
    w, h = (int(v) for v in np.asarray(sizes)[first])
    return (f"{len(small)} of {len(files)} probe images are smaller than {min_side} px on a "
            f"side, e.g. {files[first]} ({w} x {h} px): the model sees them upsampled to "
            "blocks of colour; remove them unless they are meant to be there")
