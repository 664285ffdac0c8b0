"""The ``conceptlens`` command line: one subcommand per tool.

``conceptlens convis IMAGE CONCEPT --clip NAME --hierarchy TSV [--out map.png]
[--overlay overlay.png]`` writes the ConVis map of CONCEPT on IMAGE.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from conceptlens.convis import DEFAULT_STRIDE, DEFAULT_WINDOWS, REFERENCE_SIZE


def _add_convis(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convis", help="ConVis saliency map of a concept on an image",
                       description="ConVis concept saliency map (Giulivi & Boracchi 2024): rank "
                       "the nodes of a concept hierarchy on sliding windows with CLIP.")
    p.add_argument("image", type=Path, help="image file")
    p.add_argument("concept", help="concept: a hierarchy node id or one of its lemmas")
    p.add_argument("--clip", required=True, help="open_clip model name, e.g. conceptlens-world-clip")
    p.add_argument("--pretrained", default=None, help="open_clip pretrained tag or checkpoint path")
    p.add_argument("--hierarchy", required=True, type=Path,
                   help="hierarchy TSV (concept, parent[, definition][, lemmas])")
    p.add_argument("--node-text", choices=("lemma", "definition"), default="lemma")
    p.add_argument("--template", default="A photo of a {}", help="prompt template for lemmas")
    p.add_argument("--window-sizes", type=int, nargs="+", default=list(DEFAULT_WINDOWS),
                   help="window sides in px of a --reference-size image")
    p.add_argument("--stride", type=int, default=DEFAULT_STRIDE)
    p.add_argument("--reference-size", type=int, default=REFERENCE_SIZE)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0, help="seed of the padding noise")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", type=Path, default=None, help="map as a grayscale PNG (default: "
                   "IMAGE stem + _CONCEPT_convis.png next to the image)")
    p.add_argument("--overlay", type=Path, default=None, help="also write the map over the image")
    p.set_defaults(func=run_convis)


def save_overlay(path: Path, image: np.ndarray, heat: np.ndarray, title: str) -> None:
    """The map (H, W) in [0, 1] drawn over the image (H, W, 3) with a colour bar (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(image)
    shown = ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=1)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, bbox_inches="tight", dpi=150)
    plt.close(fig)
    tmp.replace(path)


def run_convis(args: argparse.Namespace) -> int:
    from PIL import Image

    from conceptlens.convis import concept_map, resolve_torch_device, to_uint8
    from conceptlens.models.clip import OfflineWeightsError, load_clip

    if not args.image.is_file():
        raise SystemExit(f"conceptlens convis: image not found: {args.image}")
    if not args.hierarchy.is_file():
        raise SystemExit(f"conceptlens convis: hierarchy file not found: {args.hierarchy}")
    try:
        clip = load_clip(args.clip, args.pretrained or None, device=resolve_torch_device(args.device))
        heat = concept_map(args.image, args.concept, clip, args.hierarchy,
                           node_text=args.node_text, template=args.template,
                           window_sizes=args.window_sizes, stride=args.stride,
                           reference_size=args.reference_size, batch_size=args.batch_size,
                           seed=args.seed)
    except (ValueError, FileNotFoundError, OfflineWeightsError) as err:
        raise SystemExit(f"conceptlens convis: {err}") from None
    out = args.out or args.image.with_name(f"{args.image.stem}_{args.concept}_convis.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    Image.fromarray(to_uint8(heat), mode="L").save(tmp)
    tmp.replace(out)
    print(f"wrote {out}")
    if args.overlay:
        with Image.open(args.image) as img:
            pixels = np.asarray(img.convert("RGB"))
        save_overlay(args.overlay, pixels, heat, f"ConVis: {args.concept}")
        print(f"wrote {args.overlay}")
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_convis]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conceptlens", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
