"""The neuron explorer: a separate page of the report, one card per described neuron.

``write_explorer`` writes a folder that opens offline from ``file://`` (no server, no
network, no fetch/XHR: Chromium refuses those for local files)::

    <out_dir>/index.html      the page: markup, CSS and vanilla JS inline
    <out_dir>/data.js         ``window.CONCEPTLENS_EXPLORER = {...};`` (a <script src>)
    <out_dir>/thumbs/<id>.jpg one small JPEG per distinct probe image shown

A card shows the neuron's top images (conv layers: its activation map over each, drawn
client-side on a canvas from 8-bit maps, bilinearly upsampled by the browser, coloured
with the report's ``inferno`` map and with opacity rising with the activation), every
method's concepts side by side (one row per method, the chosen method first), the
evidence scores, and the ground truth where the run has one.  The page renders one page of
cards at a time (60 by default), so a ResNet-50 run (3,048 neurons) never holds more than
that in the DOM; thumbnails load lazily.

The data (``data.js``), compact rather than pretty (:func:`read_explorer_data` reads it
back into one dict per card):

- ``layers``: ``[{"name", "n_top", "maps": null | {"h", "w", "b64"}}]``; ``b64`` is the
  base64 of uint8 ``(n_cards_of_layer, n_top, h, w)``, the maps of the layer's cards in
  card order (a card's ``map`` is its row);
- ``methods``: method names; ``fields``: the names of a method entry's values;
- ``cards``: ``{"layer": index, "unit", "images": [probe ids], "map": row | null,
  "gt": str | null (only with ground truth), "methods": [[method index, *fields]]}``;
- ``search``: per card, its methods' concepts lower-cased and joined by newlines (what
  the search box matches, a substring, case-insensitively);
- ``evidence``: the evidence columns present, ``columns`` their header, kind and
  tooltip; ``lut``: the colour map, 256 x RGB.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np

from conceptlens.io.atomic import atomic_write_bytes, atomic_write_text, jsonable

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

TEMPLATE = "explorer.html.j2"
SCRIPT = "explorer.js.j2"
DATA_FILE = "data.js"
THUMBS_DIR = "thumbs"
DATA_VARIABLE = "CONCEPTLENS_EXPLORER"
DEFAULT_TITLE = "conceptlens neuron explorer"
PAGE_SIZE = 60
"""Cards rendered at a time (one page)."""
JPEG_QUALITY = 82

#: evidence columns the card can show: name -> (header, kind, tooltip); kind "num" (a
#: score, 2 decimals), "pct" (a fraction in percent), "bool" (tick / cross), "list" (flags)
EVIDENCE: dict[str, tuple[str, str, str]] = {
    "simulation_pearson": ("sim r", "num", "simulation: Pearson r over the held-out half of "
                           "the activation with the prediction of the held-out description"),
    "simulation_spearman": ("sim ρ", "num", "simulation: Spearman rank correlation"),
    "contrast_auc": ("AUC", "num", "contrast: AUC of the activation between the concept "
                     "images and the rest of the held-out half"),
    "contrast_diff": ("Δ/σ", "num", "contrast: difference of the mean activations in "
                      "units of the neuron's standard deviation"),
    "beats_shuffled": ("> sh.", "bool", "simulation and contrast beat the shuffled-"
                       "label baseline (permutation p ≤ significance)"),
    "heldout_agrees": ("held", "bool", "the method chooses the same concept again "
                       "on the selection half"),
    "agreement": ("agr.", "pct", "fraction of the other methods giving the same concept"),
    "flags": ("flags", "list", "warnings of the evidence stage"),
}
FLOAT_EVIDENCE = tuple(k for k, v in EVIDENCE.items() if v[1] in ("num", "pct"))
BOOL_EVIDENCE = tuple(k for k, v in EVIDENCE.items() if v[1] == "bool")
REQUIRED_COLUMNS = ("method", "layer", "unit", "concept")
SIMULATION_FIELDS = ("simulation_pearson", "simulation_spearman")
"""The score of the minimum-simulation slider and of "sort by simulation" (first present)."""
CONTRAST_FIELDS = ("contrast_auc", "contrast_diff")
"""The score of "sort by contrast" (first present)."""


# ---------------------------------------------------------------------------- arrays


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """float (n, k, h, w) activation maps -> uint8 0..255, min-max normalised *per neuron*
    (over all k maps of a neuron together, so a weaker response on a neuron's 8th image
    shows weaker than on its 1st); NaN counts as the minimum; a constant neuron is 0."""
    m = np.asarray(maps, dtype=np.float32)
    finite = np.isfinite(m)
    m = np.where(finite, m, 0.0)
    lo = np.where(finite, m, np.inf).min(axis=(1, 2, 3), keepdims=True)
    hi = np.where(finite, m, -np.inf).max(axis=(1, 2, 3), keepdims=True)
    ok = np.isfinite(lo) & (hi > lo)
    scale = np.where(ok, 255.0 / np.where(ok, hi - lo, 1.0), 0.0)
    out = np.where(finite, (m - np.where(ok, lo, 0.0)) * scale, 0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def encode_maps(maps: np.ndarray) -> dict[str, Any]:
    """uint8 (n, k, h, w) -> ``{"h", "w", "b64"}`` (base64 of the C-order bytes)."""
    maps = np.ascontiguousarray(maps, dtype=np.uint8)
    return {"h": int(maps.shape[2]), "w": int(maps.shape[3]),
            "b64": base64.b64encode(maps.tobytes()).decode("ascii")}


def decode_maps(entry: Mapping[str, Any], n_top: int) -> np.ndarray:
    """The inverse of :func:`encode_maps`: uint8 (n, n_top, h, w)."""
    flat = np.frombuffer(base64.b64decode(entry["b64"]), dtype=np.uint8)
    return flat.reshape(-1, n_top, entry["h"], entry["w"])


def _floats(values: pd.Series, decimals: int = 4) -> list[float | None]:
    """Numbers rounded to ``decimals`` (NaN / missing -> None)."""
    import pandas as pd

    a = np.round(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64), decimals)
    return np.where(np.isfinite(a), a, None).tolist()


def _bools(values: pd.Series) -> list[bool | None]:
    """Booleans (missing -> None); strings "true"/"false" as CSV readers leave them."""
    import pandas as pd

    missing = pd.isna(values).to_numpy()
    text = values.astype(str).str.strip().str.lower()
    truth = np.where(text.isin(["true", "1", "1.0", "yes"]).to_numpy(), True,
                     np.where(text.isin(["false", "0", "0.0", "no", ""]).to_numpy(), False,
                              values.astype(bool).to_numpy()))
    return np.where(missing, None, truth).tolist()


def _texts(values: pd.Series) -> list[str | None]:
    import pandas as pd

    return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
            for v in values.tolist()]


def _concept_lists(concepts: pd.Series | None, top: list[str | None]) -> list[list[str]]:
    """Each row's selected concepts as a list, the top concept first (lists, arrays,
    tuples, or strings separated by ``;`` or ``|``; missing -> just the top concept)."""
    def one(value: Any, first: str | None) -> list[str]:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            items: list[str] = []
        elif isinstance(value, str):
            items = [s.strip() for s in re.split(r"[;|]", value)]
        else:
            items = [str(s).strip() for s in list(value)]
        items = [s for s in items if s]
        if first:
            items = [first] + [s for s in items if s != first]
        return list(dict.fromkeys(items))

    values = [None] * len(top) if concepts is None else concepts.tolist()
    return [one(v, t) for v, t in zip(values, top, strict=True)]


def _flag_lists(values: pd.Series) -> list[list[str]]:
    return [[f.strip() for f in v.split(",") if f.strip()] if isinstance(v, str) else []
            for v in values.tolist()]


# ---------------------------------------------------------------------------- records


def explorer_data(cards: pd.DataFrame, top_images: Mapping[str, np.ndarray],
                  maps: Mapping[str, np.ndarray | None], methods: Sequence[str] | None = None,
                  has_ground_truth: bool | None = None, title: str = DEFAULT_TITLE
                  ) -> dict[str, Any]:
    """The explorer's data (what ``data.js`` holds, see the module docstring).

    ``cards``: one row per (method, layer, unit); columns ``method, layer, unit, concept``,
    optionally ``concepts`` (the selected concepts: a list / array, or a string separated
    by ``;``), the evidence columns of :data:`EVIDENCE` that the run has (others are not
    shown; a column that is all missing counts as absent) and the ground truth
    ``gt_concept`` (str or None; a neuron's first non-missing one is shown) and ``hit``
    (0 / 1 / NaN, per method).
    ``top_images[layer]``: int (n_neurons, n_top), row ``u`` the probe ids of unit ``u``'s
    top images (full view); ``maps[layer]``: float (n_neurons, n_top or more, h, w)
    activation maps, or None / absent for layers without spatial extent (fc).
    ``methods``: which methods, in which order (default: as they come in ``cards``);
    ``has_ground_truth``: default, whether ``gt_concept`` has any value.
    Layers come in ``top_images``' order, then any other of ``cards``.
    """
    import pandas as pd

    missing = [c for c in REQUIRED_COLUMNS if c not in cards.columns]
    if missing:
        raise ValueError(f"explorer cards: missing column(s) {missing} "
                         f"(has {list(cards.columns)})")
    methods = list(dict.fromkeys(cards["method"].astype(str))) if methods is None \
        else [str(m) for m in methods]
    df = cards.assign(method=cards["method"].astype(str), layer=cards["layer"].astype(str))
    df = df[df["method"].isin(methods)]
    layers = [str(x) for x in top_images if str(x) in set(df["layer"])]
    layers += [x for x in dict.fromkeys(df["layer"]) if x not in layers]
    methods = [m for m in methods if m in set(df["method"])]
    dup = df.duplicated(["method", "layer", "unit"])
    if dup.any():
        raise ValueError(f"explorer cards: {int(dup.sum())} duplicate (method, layer, unit) "
                         f"rows, e.g. {df.loc[dup, ['method', 'layer', 'unit']].iloc[0].tolist()}")

    if has_ground_truth is None:
        has_ground_truth = "gt_concept" in df.columns and bool(df["gt_concept"].notna().any())
    elif has_ground_truth and "gt_concept" not in df.columns:
        raise ValueError("explorer cards: has_ground_truth but no gt_concept column")
    evidence = [c for c in EVIDENCE if c in df.columns and df[c].notna().any()
                and not (EVIDENCE[c][1] == "list" and (df[c].fillna("") == "").all())]
    with_hit = bool(has_ground_truth and "hit" in df.columns)
    fields = ["concept", "concepts", *evidence, *(["hit"] if with_hit else [])]

    layer_pos = {x: i for i, x in enumerate(layers)}
    method_pos = {m: i for i, m in enumerate(methods)}
    df = df.assign(_l=df["layer"].map(layer_pos), _m=df["method"].map(method_pos),
                   unit=df["unit"].astype(np.int64))
    df = df.sort_values(["_l", "unit", "_m"], kind="stable").reset_index(drop=True)

    # one entry per row: [method index, concept, concepts, evidence..., hit]
    top = _texts(df["concept"])
    columns: list[list] = [df["_m"].tolist(), top,
                           _concept_lists(df["concepts"] if "concepts" in df else None, top)]
    for c in evidence:
        kind = EVIDENCE[c][1]
        columns.append(_floats(df[c]) if kind in ("num", "pct") else
                       _bools(df[c]) if kind == "bool" else _flag_lists(df[c]))
    if with_hit:
        columns.append(_floats(df["hit"], 0))
    entries = [list(e) for e in zip(*columns, strict=True)]

    # neurons: runs of equal (layer, unit) in the sorted rows
    keys = df[["_l", "unit"]].to_numpy(dtype=np.int64)
    new = np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)] if len(df) else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], len(df)][:len(starts)].astype(np.int64)
    neuron_layer, neuron_unit = keys[starts, 0], keys[starts, 1]
    if has_ground_truth:
        gt_first = df.groupby(["_l", "unit"], sort=True)["gt_concept"].first()
        gts = _texts(gt_first.reindex(pd.MultiIndex.from_arrays(
            [neuron_layer, neuron_unit])))

    layer_entries, images, map_rows = [], [None] * len(starts), [None] * len(starts)
    for li, name in enumerate(layers):
        idx = np.flatnonzero(neuron_layer == li)
        units = neuron_unit[idx]
        tops = top_images.get(name)
        entry: dict[str, Any] = {"name": name, "n_top": 0, "maps": None}
        if tops is not None:
            tops = np.asarray(tops)
            if units.size and units.max() >= len(tops):
                raise ValueError(f"explorer: layer {name} unit {int(units.max())} has no row "
                                 f"in top_images ({len(tops)} rows)")
            rows = tops[units].astype(np.int64)
            entry["n_top"] = int(tops.shape[1])
            for i, r in zip(idx.tolist(), rows.tolist(), strict=True):
                images[i] = r
            m = maps.get(name)
            if m is not None:
                m = np.asarray(m)
                if m.ndim != 4 or len(m) != len(tops) or m.shape[1] < tops.shape[1]:
                    raise ValueError(f"explorer: maps of layer {name} have shape {m.shape}, "
                                     f"want ({len(tops)}, {tops.shape[1]}, h, w)")
                entry["maps"] = encode_maps(normalise_maps(m[units, :tops.shape[1]]))
                for row, i in enumerate(idx.tolist()):
                    map_rows[i] = row
        layer_entries.append(entry)

    records = []
    for n, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        card = {"layer": int(neuron_layer[n]), "unit": int(neuron_unit[n]),
                "images": images[n] or [], "map": map_rows[n], "methods": entries[s:e]}
        if has_ground_truth:
            card["gt"] = gts[n]
        records.append(card)
    search = ["\n".join(dict.fromkeys(c.lower() for entry in entries[s:e] for c in entry[2]))
              for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]

    from conceptlens.report.figures import colormap

    lut = colormap(np.linspace(0.0, 1.0, 256)).reshape(-1).tolist()
    return {"version": 1, "title": title, "layers": layer_entries, "methods": methods,
            "fields": fields, "evidence": evidence,
            "columns": {c: list(EVIDENCE[c]) for c in evidence},
            "has_ground_truth": bool(has_ground_truth), "thumbs": THUMBS_DIR + "/", "lut": lut, "cards": records, "search": search}


def data_js(data: Mapping[str, Any]) -> str:
    """``data`` as the script ``data.js`` (ASCII JSON: safe in any page encoding)."""
    text = json.dumps(jsonable(data), separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return f"window.{DATA_VARIABLE} = {text};\n"


def read_explorer_data(path: str | os.PathLike) -> dict[str, Any]:
    """A written ``data.js`` (or the explorer folder) back as a dict, each card's method
    entries expanded to ``{"method": name, field: value, ...}`` dicts (tests, tools)."""
    path = Path(path)
    if path.is_dir():
        path = path / DATA_FILE
    text = path.read_text(encoding="ascii")
    prefix = f"window.{DATA_VARIABLE} = "
    if not text.startswith(prefix):
        raise ValueError(f"{path}: not an explorer data file")
    data = json.loads(text[len(prefix):].rstrip().rstrip(";"))
    for card in data["cards"]:
        card["methods"] = [{"method": data["methods"][e[0]], **dict(zip(data["fields"], e[1:]))}
                           for e in card["methods"]]
    return data


# ---------------------------------------------------------------------------- files


def write_thumbnails(thumb_dir: Path, ids: Sequence[int],
                     thumbnail: Callable[[int], Image.Image | str | os.PathLike],
                     size: int = 64, workers: int | None = None) -> int:
    """``thumb_dir/<id>.jpg`` for each id: ``thumbnail(id)`` (an image, or its file,
    decoded by :func:`conceptlens.images.load_rgb`, a JPEG at reduced scale) resized to
    ``size`` x ``size`` (the whole image, squashed as the model's full view sees it, so
    maps line up), JPEG.  Other ``*.jpg`` in ``thumb_dir`` (an earlier run's) are
    removed.  Returns the bytes written.  Threads: PIL releases the GIL while decoding,
    resizing and encoding."""
    from PIL import Image

    from conceptlens.images import load_rgb, to_rgb

    thumb_dir.mkdir(parents=True, exist_ok=True)
    wanted = {f"{int(i)}.jpg" for i in ids}
    for old in thumb_dir.glob("*.jpg"):
        if old.name not in wanted:
            old.unlink()

    def one(image_id: int) -> int:
        source = thumbnail(int(image_id))
        img = (to_rgb(source) if isinstance(source, Image.Image)
               else load_rgb(source, draft=(size, size), what="probe image"))
        img = img.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        path = thumb_dir / f"{int(image_id)}.jpg"
        img.save(path, format="JPEG", quality=JPEG_QUALITY, optimize=False)
        return path.stat().st_size

    from conceptlens.progress import progress

    workers = workers or min(8, os.cpu_count() or 1)
    desc = "explorer thumbnails"
    if workers <= 1 or len(ids) < 64:
        return sum(progress((one(i) for i in ids), total=len(ids), desc=desc, unit="images"))
    with ThreadPoolExecutor(workers) as pool:
        return sum(progress(pool.map(one, ids), total=len(ids), desc=desc, unit="images"))


def render_page(data: Mapping[str, Any], thumbnail_size: int = 64,
                report_link: str | None = "../../report.html",
                reports_dir: str | os.PathLike | None = None) -> str:
    """The page (``index.html``) for ``data``; it loads ``data.js`` beside it."""
    from conceptlens.report.render import REPORTS_DIR

    root = Path(reports_dir or REPORTS_DIR) / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    n_cards = len(data["cards"])
    n_layers = len(data["layers"])
    return env.get_template(TEMPLATE).render(
        title=data["title"], n_cards=n_cards, layers=[x["name"] for x in data["layers"]],
        methods=data["methods"], evidence=[(k, *EVIDENCE[k]) for k in data["evidence"]],
        has_ground_truth=data["has_ground_truth"], thumb=int(thumbnail_size),
        data_file=DATA_FILE, report_link=report_link, page_size=PAGE_SIZE,
        any_maps=any(x["maps"] for x in data["layers"]), n_layers=n_layers,
        sim_field=next((f for f in SIMULATION_FIELDS if f in data["evidence"]), None),
        contrast_field=next((f for f in CONTRAST_FIELDS if f in data["evidence"]), None))


def write_explorer(out_dir: str | os.PathLike, cards: pd.DataFrame,
                   top_images: Mapping[str, np.ndarray],
                   maps: Mapping[str, np.ndarray | None],
                   thumbnail: Callable[[int], Image.Image | str | os.PathLike],
                   thumbnail_size: int = 64,
                   title: str = DEFAULT_TITLE, methods: Sequence[str] | None = None,
                   has_ground_truth: bool | None = None,
                   report_link: str | None = "../../report.html",
                   workers: int | None = None) -> dict[str, float]:
    """Write the explorer into ``out_dir`` (``index.html``, ``data.js``, ``thumbs/``).

    ``cards``, ``top_images``, ``maps``, ``methods``, ``has_ground_truth``: see
    :func:`explorer_data` (maps are min-max normalised per neuron, see
    :func:`normalise_maps`).  ``thumbnail(probe_id)``: the probe image as a PIL image or
    its file (the view the maps were computed on); each distinct id of a card is written
    once as a ``thumbnail_size`` px JPEG.  ``report_link``: the report's address relative to the
    page (None: no link).  ``index.html`` is written last, so the page exists only once
    its data and thumbnails do.  Returns ``n_cards, n_thumbnails, html_bytes, data_bytes,
    thumbnail_bytes`` and seconds ``data_s, thumbnails_s``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = explorer_data(cards, top_images, maps, methods=methods,
                         has_ground_truth=has_ground_truth, title=title)
    script = data_js(data)
    t1 = time.perf_counter()
    ids = np.unique(np.asarray([i for c in data["cards"] for i in c["images"]],
                               dtype=np.int64)).tolist()
    thumb_bytes = write_thumbnails(out / THUMBS_DIR, ids, thumbnail, thumbnail_size, workers)
    t2 = time.perf_counter()
    html = render_page(data, thumbnail_size, report_link)
    atomic_write_text(out / DATA_FILE, script)
    atomic_write_bytes(out / "index.html", html.encode("utf-8"))
    return {"n_cards": len(data["cards"]), "n_thumbnails": len(ids),
            "html_bytes": len(html.encode("utf-8")), "data_bytes": len(script),
            "thumbnail_bytes": int(thumb_bytes), "data_s": t1 - t0, "thumbnails_s": t2 - t1}
