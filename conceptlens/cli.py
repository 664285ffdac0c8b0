"""The ``conceptlens`` command line: one subcommand per tool.

``conceptlens convis IMAGE CONCEPT --clip NAME --hierarchy TSV [--out map.png]
[--overlay overlay.png]`` writes the ConVis map of CONCEPT on IMAGE.

``conceptlens describe IMAGE_FOLDER [--concepts FILE] [--target ...] [--layer ...]
[--method ...] [--out table.csv|.tsv|.json|.parquet]`` describes a target's neurons on a
folder of images in one go, without a config (``conceptlens.quick``); by default the
shipped world models and, for them, the world vocabulary (else the WordNet nouns).
With ``--report DIR`` it runs the workflow on the folder instead, from the same options
(``conceptlens.folder_report``): the report, the evidence and the neuron explorer.

``conceptlens check-config FILE...`` checks workflow config files as the workflow does
(YAML syntax with file, line and column; ``base:`` overlays; schema; cross-key checks), run
in the workflow folder: Snakemake's own message for a broken ``--configfile`` names no line.

Exit codes (:data:`EXIT_CODES`): 0 done; 1 the run stopped on its input (a missing file,
a bad option value, weights that are not here), with one message on stderr; 2 the command
line is wrong (an unknown option, a missing argument, an ``--out`` format it does not
know), with one line on stderr, or ``check-config`` found an invalid file.

The heavy libraries (torch, open_clip, pandas) load only when a command runs, so
``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch, open_clip, numpy load when a command runs: --help stays fast
    import numpy as np

#: ConVis's defaults (conceptlens.convis; a test keeps them equal): not imported from it,
#: since it loads torch and open_clip
DEFAULT_WINDOWS = (128, 64)
DEFAULT_STRIDE = 16
REFERENCE_SIZE = 224
#: formats of ``describe --out``, by the file's extension
OUT_FORMATS = {".csv": "CSV, lists joined by |", ".tsv": "tab-separated, lists joined by |",
               ".json": "JSON records, lists as arrays", ".parquet": "Parquet, lists as lists"}
EXIT_CODES = {0: "done", 1: "the run stopped on its input (message on stderr)",
              2: "command-line error (one line on stderr), or check-config found an invalid "
                 "file"}


#: the help line of each subcommand
SUMMARIES = {"convis": "ConVis saliency map of a concept on an image",
             "describe": "describe a model's neurons on an image folder, without a config",
             "check-config": "check workflow config files before a run"}


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``PROG: error: MESSAGE (see PROG --help)``,
    exit code 2) instead of the whole usage, which for ``describe`` is a page."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def comma_ints(text: str) -> list[int]:
    """``128,64`` -> [128, 64]; anything else (such as the image or concept after a list
    option) is an error that says where positional arguments go."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or a comma-separated "
                                         "list of them (give positional arguments first)")
    return values


def out_path(text: str) -> Path:
    """``describe --out``: a path whose extension names a known format."""
    path = Path(text)
    if path.suffix.lower() not in OUT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown format {path.suffix or '(no extension)'!r}; "
            f"use {', '.join(OUT_FORMATS)}")
    return path


def version() -> str:
    """The installed conceptlens version, else the checkout's (pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("conceptlens")
    except PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _add_convis(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convis", help=SUMMARIES["convis"],
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
    p.add_argument("--window-sizes", type=comma_ints, nargs="+", default=None, metavar="PX",
                   help="window sides in px of a --reference-size image, space- or "
                   f"comma-separated (default: {' '.join(map(str, DEFAULT_WINDOWS))}); put "
                   "the image and concept before it")
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
                           window_sizes=[w for part in args.window_sizes for w in part]
                           if args.window_sizes else list(DEFAULT_WINDOWS),
                           stride=args.stride,
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
        "describe", help=SUMMARIES["describe"],
        description="One-off concept descriptions of a target's neurons on the images under "
        "a folder (recursively), with the workflow's methods but no config, cache, metrics or "
        "report. Defaults: the shipped world target and world CLIP, layer fc, method www.")
    p.add_argument("folder", type=Path, metavar="IMAGE_FOLDER", help="folder of images")
    p.add_argument("--concepts", default=None, metavar="FILE",
                   help="concept set, one concept a line, or 'world' (the world vocabulary, "
                   "142 concepts) or 'wordnet' (WordNet 3.0's nouns, 67,893: minutes of CLIP "
                   "text embedding on a CPU) (default: world for a world target, else wordnet)")
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
    p.add_argument("--units", action="append", default=None, metavar="IDS",
                   help="describe only these units of each layer: ids and ranges, "
                   "comma-separated, e.g. 0,3 or 0-9,12 (repeatable)")
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
    p.add_argument("--out", type=out_path, default=None, metavar="FILE",
                   help="write the descriptions table (with each neuron's top images) instead "
                   "of printing a summary, in the format of FILE's extension: "
                   + "; ".join(f"{ext} {what}" for ext, what in OUT_FORMATS.items()))
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
    from conceptlens.progress import console_progress
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
        with warnings.catch_warnings(record=True) as caught, console_progress(
                "conceptlens describe"):
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
        default_concepts,
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
    write_concept_set(concepts_file, load_concepts(args.concepts or default_concepts(spec)))
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
        "check-config", help=SUMMARIES["check-config"],
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


#: each subcommand's parser (its options, some read from the workflow's defaults)
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "convis": _add_convis, "describe": _add_describe, "check-config": _add_check_config}


class _Version(argparse.Action):
    """``--version``: the version looked up only when asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"conceptlens {version()}")
        parser.exit(0)


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``conceptlens`` parser with the subcommands ``commands`` (default: all) in full;
    the others with only their name and help line, as ``conceptlens --help`` lists them,
    so that parsing one command does not build (or import for) the others."""
    parser = Parser(prog="conceptlens", description=__doc__.splitlines()[0],
                    epilog="exit codes: " + "; ".join(f"{code} {what}"
                                                       for code, what in EXIT_CODES.items()))
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, add in SUBCOMMANDS.items():
        if commands is None or name in commands:
            add(sub)
        else:
            sub.add_parser(name, help=SUMMARIES[name])
    parser.commands = sub.choices  # name -> subparser, for its one-line errors
    return parser


#: options that take one comma-separated list (so that they cannot swallow the positional
#: arguments after them): dest -> (option, example, the first positional argument's dest
#: and name). (convis --window-sizes takes integers, so a path after it is an error.)
LIST_OPTIONS = {"units": ("--units", "--units 0,3", "folder", "IMAGE_FOLDER")}


def _number_like(text: str) -> bool:
    """``3``, ``0-9`` or ``0,3``: a value meant for a list option, not a file."""
    return all(part.strip().replace("-", "").isdigit() for part in str(text).split(","))


def _list_option_misuse(args: argparse.Namespace, extra: Sequence[str]) -> str | None:
    """What went wrong when a list option was given space-separated values (``--units 0 3
    FOLDER``): the value after it taken as the first positional argument, or left over."""
    for dest, (option, example, positional, name) in LIST_OPTIONS.items():
        if getattr(args, dest, None) is None:
            continue
        first = getattr(args, positional, None)
        if first is not None and _number_like(first) and not Path(first).exists():
            return (f"{option} takes one comma-separated list (e.g. {example}): {str(first)!r} "
                    f"after it was read as {name}")
        if extra and _number_like(extra[0]):
            return (f"{option} takes one comma-separated list (e.g. {example}): "
                    f"unrecognized argument {extra[0]!r}")
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from conceptlens.shipped import ShippedFileError

    argv = sys.argv[1:] if argv is None else list(argv)
    # the subcommand: the first argument that is not an option (the top level has no
    # option that takes a value)
    parser = build_parser([next((a for a in argv if not a.startswith("-")), "")])
    args, extra = parser.parse_known_args(argv)
    command = parser.commands[args.command]
    if misuse := _list_option_misuse(args, extra):
        command.error(misuse)
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    try:  # the default config, templates and world models ship with the package
        return int(args.func(args) or 0)
    except ShippedFileError as err:
        raise SystemExit(str(err)) from None


if __name__ == "__main__":
    sys.exit(main())
