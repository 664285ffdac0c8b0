"""The ``conceptlens`` command line: one subcommand per tool.

``conceptlens convis IMAGE CONCEPT --clip NAME --hierarchy TSV [--out map.png]
[--overlay overlay.png]`` writes the ConVis map of CONCEPT on IMAGE.

``conceptlens describe IMAGE_FOLDER --concepts FILE [--target ...] [--layer ...]
[--method ...] [--out table.csv]`` describes a target's neurons on a folder of images in
one go, without a config (``conceptlens.quick``); by default the shipped world models.
With ``--report DIR`` it runs the workflow on the folder instead, from the same options
(``conceptlens.folder_report``): the report, the evidence and the neuron explorer.

``conceptlens check-config FILE...`` checks workflow config files as the workflow does
(YAML syntax with file, line and column; ``base:`` overlays; schema; cross-key checks), run
in the workflow folder: Snakemake's own message for a broken ``--configfile`` names no line.
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
    p.add_argument("--pretrained", default=None, help="open_clip pretrained tag or checkpoint path "
                   "(default for conceptlens-world-clip: the shipped resources/world/clip.pt)")
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

    from conceptlens.convis import concept_map
    from conceptlens.devices import resolve_device
    from conceptlens.images import load_rgb_array
    from conceptlens.io.convis import to_uint8
    from conceptlens.models.clip import WORLD_CLIP_NAME, OfflineWeightsError, load_clip
    from conceptlens.shipped import WORLD_MODELS_DIR, shipped_path

    if not args.image.is_file():
        raise SystemExit(f"conceptlens convis: image not found: {args.image}")
    if not args.hierarchy.is_file():
        raise SystemExit(f"conceptlens convis: hierarchy file not found: {args.hierarchy}")
    try:
        pretrained = args.pretrained or None
        if pretrained is None and args.clip == WORLD_CLIP_NAME:  # as describe: the shipped one
            pretrained = str(shipped_path(f"{WORLD_MODELS_DIR}/clip.pt"))
        clip = load_clip(args.clip, pretrained, device=resolve_device(args.device))
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
        save_overlay(args.overlay, load_rgb_array(args.image), heat, f"ConVis: {args.concept}")
        print(f"wrote {args.overlay}")
    return 0


def _add_describe(sub: argparse._SubParsersAction) -> None:
    from conceptlens.quick import (
        GRADCAM_LAYER,
        GRADCAM_TARGET,
        METHODS,
        PRECISION,
        TOKENS,
        WORLD_CENTER_FRACTION,
        WORLD_GRADCAM_WINDOW,
    )

    p = sub.add_parser(
        "describe", help="describe a model's neurons on an image folder, without a config",
        description="One-off concept descriptions of a target's neurons on the images under "
        "a folder (recursively), with the workflow's methods but no config, cache, metrics or "
        "report. Defaults: the shipped world target and world CLIP, layer fc, method www.")
    p.add_argument("folder", type=Path, metavar="IMAGE_FOLDER", help="folder of images")
    p.add_argument("--concepts", required=True, metavar="FILE",
                   help="concept set, one concept a line ('world': the world vocabulary)")
    p.add_argument("--target", default="world",
                   help="world (resources/world/target.pt), a torchvision model name such as "
                   "resnet50, timm:NAME, or a checkpoint file (default: world)")
    p.add_argument("--weights", default=None,
                   help="torchvision weights enum member (default DEFAULT) or timm tag; none "
                   "= random weights")
    p.add_argument("--arch", default=None,
                   help="torchvision architecture of a checkpoint --target (omit for a world "
                   "checkpoint)")
    p.add_argument("--input-size", type=int, default=None,
                   help="side of the target input in px (default 64 for the world, else 224)")
    p.add_argument("--layer", action="append", dest="layers", metavar="LAYER",
                   help="layer to describe, repeatable (default: the last linear layer, fc)")
    p.add_argument("--units", nargs="+", default=None, metavar="UNIT",
                   help="describe only these units of each layer, e.g. 0 3 or 0-9,12")
    p.add_argument("--clip", default=None, metavar="NAME",
                   help="open_clip model name (default: the world CLIP, conceptlens-world-clip)")
    p.add_argument("--pretrained", default=None, metavar="TAG_OR_PATH",
                   help="open_clip pretrained tag or checkpoint file; none = random weights "
                   "(default for the world CLIP: resources/world/clip.pt)")
    p.add_argument("--method", default="www", choices=list(METHODS), metavar="METHOD",
                   help="www, gradcam_tvmf, gradcam_cos, center_tvmf (WWW family), or a "
                   "CLIP-Dissect function: soft_wpmi, wpmi, cos, cos_cubed, rank_reorder "
                   "(default: www)")
    p.add_argument("--k", type=int, default=None,
                   help="top-k images per neuron (WWW family: 40, at most 5%% of the images; "
                   "CLIP-Dissect soft_wpmi 100, wpmi 28)")
    p.add_argument("--alpha", type=float, default=None,
                   help="WWW selection: concepts scoring >= alpha * best (default 0.95)")
    p.add_argument("--kappa", type=float, default=None,
                   help="t-vMF concentration of gradcam_tvmf and center_tvmf (default 1)")
    p.add_argument("--template", default=None,
                   help="prompt template with {} (default 'A photo of a {}' for the WWW family, "
                   "'{}' for CLIP-Dissect)")
    p.add_argument("--center-fraction", type=float, default=None,
                   help="side of the centre / Grad-CAM crop as a fraction of the shorter image "
                   f"side (default {WORLD_CENTER_FRACTION} for the world, else 0.875)")
    p.add_argument("--gradcam-layer", default=GRADCAM_LAYER,
                   help=f"layer of the Grad-CAM view (default {GRADCAM_LAYER})")
    p.add_argument("--gradcam-fraction", type=float, default=None,
                   help="side of the Grad-CAM window as a fraction of the shorter image side "
                   f"(default {WORLD_GRADCAM_WINDOW[0]} for the world, else the centre crop's)")
    p.add_argument("--gradcam-peak", default=None, choices=("max", "centroid"),
                   help="centre of the Grad-CAM window: the map's maximum or its peak region's "
                   f"centroid (default {WORLD_GRADCAM_WINDOW[1]} for the world, else max)")
    p.add_argument("--gradcam-target", default=GRADCAM_TARGET, choices=("predicted", "label"),
                   help=f"class whose Grad-CAM places the window (default {GRADCAM_TARGET}; "
                   "label needs a labelled probe set)")
    p.add_argument("--tokens", default=TOKENS, choices=("mean", "max", "cls"),
                   help="how a token layer (ViT blocks, Swin stages) gives one value per "
                   "neuron: the mean or max over the patch tokens, or the class token "
                   f"(default {TOKENS})")
    p.add_argument("--precision", default=PRECISION, choices=("float32", "autocast"),
                   help=f"float32, or autocast (bfloat16 on the CPU, float16 on CUDA) "
                   f"(default {PRECISION})")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes reading images")
    p.add_argument("--out", type=Path, default=None,
                   help="write the descriptions table as CSV (lists joined by |; .parquet keeps "
                   "them as lists) instead of printing a summary")
    p.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="run the workflow on the folder instead, into DIR: report.html, "
                        "report.pdf, the evidence of every description and the neuron "
                        "explorer under DIR/results/describe/ (every unit)")
    p.add_argument("--cores", type=int, default=None,
                   help="with --report: cores of the workflow (default: all)")
    p.set_defaults(func=run_describe)


def run_describe(args: argparse.Namespace) -> int:
    import warnings

    from conceptlens.io.descriptions import save_description_table
    from conceptlens.models.clip import OfflineWeightsError
    from conceptlens.models.zoo import MissingWeightsError
    from conceptlens.offline import MissingRequirementsError
    from conceptlens.quick import describe_folder, option_message, summary_frame

    said: set[str] = set()

    def note(message: str) -> None:
        said.add(message)
        print(f"conceptlens describe: {message}", file=sys.stderr)

    if args.report is not None:
        try:
            return describe_report(args, note)
        except (ValueError, FileNotFoundError, OfflineWeightsError, MissingWeightsError,
                MissingRequirementsError) as err:
            raise SystemExit(f"conceptlens describe: {option_message(err)}") from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            table = describe_folder(
                args.folder, args.concepts, target=args.target, weights=args.weights,
                arch=args.arch, layers=args.layers, clip=args.clip, pretrained=args.pretrained,
                method=args.method, k=args.k, alpha=args.alpha, kappa=args.kappa,
                template=args.template, units=args.units, device=args.device,
                batch_size=args.batch_size, workers=args.workers, input_size=args.input_size,
                center_fraction=args.center_fraction, gradcam_layer=args.gradcam_layer,
                gradcam_fraction=args.gradcam_fraction, gradcam_target=args.gradcam_target,
                gradcam_peak=args.gradcam_peak, precision=args.precision, tokens=args.tokens,
                log=note)
    except (ValueError, FileNotFoundError, OfflineWeightsError, MissingWeightsError,
            MissingRequirementsError) as err:
        raise SystemExit(f"conceptlens describe: {option_message(err)}") from None
    for warning in caught:  # those the run did not say already
        if f"warning: {warning.message}" not in said:
            note(f"warning: {warning.message}")
    if args.out is None:
        print(summary_frame(table).to_string(index=False))
        return 0
    save_description_table(table, args.out)
    print(f"wrote {args.out} ({len(table)} units)")
    return 0


def describe_report(args: argparse.Namespace, note: Callable[[str], None]) -> int:
    """``describe --report DIR``: the workflow on the folder, from the same options."""
    from conceptlens.folder_report import CONCEPT_SET, folder_config, run_folder_report
    from conceptlens.io.concepts import write_concept_set
    from conceptlens.io.descriptions import load_descriptions
    from conceptlens.probes import probe_state
    from conceptlens.quick import (
        REAL_CENTER_FRACTION,
        WORLD_CENTER_FRACTION,
        DescribeError,
        clip_spec,
        few_images_note,
        gradcam_window,
        load_concepts,
        method_settings,
        summary_frame,
        target_spec,
        www_k,
    )

    if args.units is not None or args.out is not None:
        raise DescribeError("--units and --out do not apply with --report (the workflow "
                            "describes every unit and writes its own files)")
    if not args.folder.is_dir():
        raise DescribeError(f"image folder {str(args.folder)!r} does not exist")
    spec = target_spec(args.target, args.weights, args.arch, args.input_size)
    settings = method_settings(args.method, args.k, args.alpha, args.kappa, args.template)
    state = probe_state({"source": "folder", "path": str(args.folder)})
    first_k = settings.get("k")
    if "k" in settings and state:
        settings["k"] = www_k(args.k, settings["k"], state[0])
    few = state and few_images_note(state[0], args.folder, args.method, (
        first_k, min(settings["k"], state[0])) if "k" in settings else None)
    if few:
        note(f"warning: {few}")
    clip = clip_spec(args.clip, args.pretrained) if args.clip or args.pretrained else None
    layers = args.layers or [_output_layer(spec)]
    out = args.report.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    concepts_file = out / f"{CONCEPT_SET}.txt"
    write_concept_set(concepts_file, load_concepts(args.concepts))
    fraction = args.center_fraction or (WORLD_CENTER_FRACTION if spec["source"] == "world"
                                        else REAL_CENTER_FRACTION)
    window = gradcam_window(spec["source"], args.gradcam_fraction, args.gradcam_peak)
    config = folder_config(
        args.folder, concepts_file, target=spec, layers=layers, method=args.method,
        settings=settings, clip=clip, views={
            "center_fraction": fraction, "gradcam_layer": args.gradcam_layer,
            "gradcam_fraction": window[0], "gradcam_peak": window[1],
            "gradcam_target": args.gradcam_target},
        precision=args.precision, tokens=args.tokens, device=args.device,
        batch_size=args.batch_size, workers=args.workers)
    note(f"running the workflow in {out} (log: {out / 'snakemake.log'})")
    run = run_folder_report(config, out, args.cores)
    described = load_descriptions(sorted((run / "descriptions" / CONCEPT_SET / args.method)
                                         .glob("*.parquet")))
    print(summary_frame(described).to_string(index=False))
    for name in ("report.html", "report.pdf", "report/explorer/index.html",
                 f"evidence/{CONCEPT_SET}/table.csv"):
        note(f"wrote {run / name}")
    return 0


def _output_layer(spec: dict) -> str:
    """The target's last linear layer (describe's default layer), from the model itself."""
    from conceptlens.ground_truth import output_layer_name
    from conceptlens.models.zoo import load_target

    if spec["source"] == "world":
        return "fc"
    return output_layer_name(load_target(spec, "cpu")[0])


def _add_check_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-config", help="check workflow config files before a run",
        description="Check config files as the workflow does, run in the workflow folder: YAML "
        "syntax (file, line, column), base: overlays, the schema and the cross-key checks.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="config file(s)")
    p.set_defaults(func=_check_config_files)


def _check_config_files(args: argparse.Namespace) -> int:
    """One line per file: what it configures, or its first error; exit 2 on any error."""
    from conceptlens.config import ConfigError, load_config

    failed = False
    for path in args.files:
        try:
            config = load_config(path)
        except ConfigError as err:
            print(f"{path}: {err}" if str(path) not in str(err) else str(err), file=sys.stderr)
            failed = True
            continue
        print(f"{path}: valid (run {config['run']!r}, target {config['target']['source']}, "
              f"probe {config['probe']['source']}, {len(config.get('methods') or {})} method "
              f"entries, layers {', '.join(config['layers'])})")
    return 2 if failed else 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_convis, _add_describe, _add_check_config]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conceptlens", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from conceptlens.shipped import ShippedFileError

    try:  # the default config, templates and world models ship with the package
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except ShippedFileError as err:
        raise SystemExit(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
