"""Benchmark: the neuron explorer at ResNet-50 size (write time, sizes, browser response).

    .venv/bin/python benchmarks/explorer.py [--out /tmp/conceptlens-explorer]
        [--json stats.json] [--methods 3] [--pool 20000] [--top 8] [--no-browser]

Synthetic data: 2,048 layer4 channels (7 x 7 float16 maps) + 1,000 fc units, ``--top``
top images each drawn uniformly from a pool of ``--pool`` probe ids (so about 14,000
distinct thumbnails for 24,384 slots), ``--methods`` methods per neuron with random
concepts from a small vocabulary (about 2 % of the top concepts are "striped") and
random evidence; no ground truth.  The probe images are procedural 96 px pictures
(stripes, checks or blobs) made on demand, as ``thumbnail(id)`` would open a file.

Writes the explorer into ``--out``, then opens ``index.html`` from file:// in headless
Chromium (Python playwright driving /usr/bin/chromium; no download) and measures:
(a) ms from navigation start to the first cards in the DOM and to the frame that paints
them (the page's own clock), and the wall time from goto until a card is in the DOM; (b) ms for a search ("striped") to update the
results, synchronously and until the next frame is painted (median of 5), and the same
for sort-by-simulation and the next page.  Prints a table and writes --json.
Without chromium or playwright: one line saying what is missing, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conceptlens.report.explorer import write_explorer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LAYERS = (("layer4", 2048, 7), ("fc", 1000, None))
METHODS = ("www", "gradcam_tvmf", "soft_wpmi", "wpmi", "cos", "cos_cubed", "rank_reorder",
           "center_tvmf", "gradcam_cos")
WORDS = ("striped", "dotted", "checkered", "zigzagged", "furry", "scaly", "wooden", "metal",
         "grass", "sky", "water", "sand", "brick", "fabric", "leaf", "wheel", "dog", "cat",
         "bird", "car", "boat", "tree", "flower", "road", "window", "face", "hand", "red",
         "blue", "green", "yellow", "orange", "purple", "white", "black", "shiny", "matte",
         "spotted", "banded", "woven", "mesh", "paper", "glass", "stone", "snow", "cloud",
         "mountain", "building")
FLAGS = ("below_shuffled", "heldout_differs", "weak", "methods_disagree", "unstable")


def synthetic_cards(n_methods: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per (method, layer, unit), with concepts and every evidence column."""
    vocab = np.array(WORDS)
    weights = np.ones(len(WORDS))
    weights[0] = 0.02 / (1 - 0.02) * (len(WORDS) - 1)  # "striped" ~2 % of the top concepts
    weights /= weights.sum()
    frames = []
    for layer, n, _ in LAYERS:
        for method in METHODS[:n_methods]:
            top = rng.choice(len(WORDS), n, p=weights)
            extra = rng.integers(0, len(WORDS), (n, 4))
            frames.append(pd.DataFrame({
                "method": method, "layer": layer, "unit": np.arange(n),
                "concept": vocab[top],
                "concepts": [list(dict.fromkeys(vocab[[t, *e[:k]]]))
                             for t, e, k in zip(top, extra, rng.integers(0, 5, n), strict=True)],
                "simulation_pearson": rng.uniform(-0.2, 0.8, n),
                "simulation_spearman": rng.uniform(-0.2, 0.8, n),
                "contrast_auc": rng.uniform(0.3, 1.0, n),
                "contrast_diff": rng.normal(1.0, 0.8, n),
                "beats_shuffled": rng.random(n) < 0.6,
                "heldout_agrees": rng.random(n) < 0.7,
                "agreement": rng.integers(0, n_methods, n) / max(1, n_methods - 1),
                "flags": [",".join(np.array(FLAGS)[rng.random(len(FLAGS)) < 0.15])
                          for _ in range(n)],
            }))
    return pd.concat(frames, ignore_index=True)


def procedural_image(image_id: int, side: int = 96) -> Image.Image:
    """A deterministic 96 px picture: stripes, checks or a blob in two random colours."""
    r = np.random.default_rng(image_id)
    a, b = r.integers(0, 256, (2, 3))
    y, x = np.mgrid[0:side, 0:side] / side
    kind = image_id % 3
    if kind == 0:
        t = r.uniform(0, np.pi)
        mask = np.sin((x * np.cos(t) + y * np.sin(t)) * r.uniform(8, 40)) > 0
    elif kind == 1:
        f = r.integers(3, 12)
        mask = ((x * f).astype(int) + (y * f).astype(int)) % 2 == 0
    else:
        cx, cy, rad = r.uniform(0.2, 0.8, 3)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < (rad / 2) ** 2
    image = np.where(mask[..., None], a, b).astype(np.uint8)
    return Image.fromarray(image)


def build(out: Path, n_methods: int, pool: int, n_top: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    cards = synthetic_cards(n_methods, rng)
    top_images = {layer: rng.integers(0, pool, (n, n_top)) for layer, n, _ in LAYERS}
    maps = {layer: (None if side is None else
                    (rng.random((n, n_top, side, side), dtype=np.float32)
                     * rng.random((n, n_top, 1, 1), dtype=np.float32)).astype(np.float16))
            for layer, n, side in LAYERS}
    t_synth = time.perf_counter() - t0
    spent: list[float] = []

    def thumbnail(image_id: int) -> Image.Image:  # the probe "file", timed
        t = time.perf_counter()
        image = procedural_image(image_id)
        spent.append(time.perf_counter() - t)
        return image

    t1 = time.perf_counter()
    summary = write_explorer(out, cards, top_images, maps, thumbnail,
                             title="conceptlens neuron explorer (synthetic ResNet-50)",
                             methods=METHODS[:n_methods], report_link=None)
    summary["write_s"] = time.perf_counter() - t1
    summary["synthetic_s"] = t_synth
    summary["image_generation_s"] = sum(spent)  # summed over the writer's threads
    return summary


PAINT = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
TIMED = """async ([selector, value]) => {
  const el = document.querySelector(selector);
  const before = window.__explorer.updates;
  const t0 = performance.now();
  if (selector === '#next') {
    document.querySelector('#pager-top button[data-go="1"]').click();
  } else {
    el.value = value;
    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
  }
  const sync = performance.now() - t0;
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return {sync_ms: sync, frame_ms: performance.now() - t0,
          updated: window.__explorer.updates > before,
          cards: document.querySelectorAll('.card').length,
          count: document.querySelector('#pager-top .count').textContent};
}"""


def browser_timings(index: Path, repeats: int = 5) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(index.as_uri(), wait_until="commit")
        page.wait_for_selector(".card", state="attached")
        wall_first = (time.perf_counter() - t0) * 1000
        page.wait_for_load_state("load")
        wall_load = (time.perf_counter() - t0) * 1000
        page.wait_for_function("window.__explorer.firstPaint !== null")
        own = page.evaluate("window.__explorer")
        nav = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0];"
                            " const p = performance.getEntriesByName('first-contentful-paint');"
                            " return {dom_content_loaded: n.domContentLoadedEventEnd,"
                            " load: n.loadEventEnd,"
                            " first_contentful_paint: p.length ? p[0].startTime : null}; })()")
        first = {"first_card_ms": own["firstCard"], "first_card_painted_ms": own["firstPaint"],
                 "first_render_ms": own["lastUpdate"],
                 "wall_first_card_ms": wall_first, "wall_load_ms": wall_load, **nav,
                 "cards_in_dom": page.locator(".card").count(),
                 "canvases_in_dom": page.locator("canvas").count()}
        results: dict[str, list[dict]] = {"search": [], "sort_simulation": [], "next_page": []}
        for _ in range(repeats):
            results["search"].append(page.evaluate(TIMED, ["#q", "striped"]))
            page.evaluate(TIMED, ["#q", ""])
            results["sort_simulation"].append(page.evaluate(TIMED, ["#sort", "simulation"]))
            page.evaluate(TIMED, ["#sort", "unit"])
            results["next_page"].append(page.evaluate(TIMED, ["#next", None]))
            page.evaluate(TIMED, ["#q", ""])
        search_count = results["search"][-1]["count"]
        browser.close()
    med = {f"{k}_{m}": statistics.median(r[m] for r in v)
           for k, v in results.items() for m in ("sync_ms", "frame_ms")}
    ok = all(r["updated"] for v in results.values() for r in v)
    return {"chromium": version, **first, **med, "search_result": search_count,
            "all_updated": ok, "page_errors": errors}


def browser_missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"chromium is needed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "python playwright is needed (.venv/bin/pip install playwright; no browser download)"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/conceptlens-explorer")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    parser.add_argument("--methods", type=int, default=3, help=f"1..{len(METHODS)}")
    parser.add_argument("--pool", type=int, default=20000)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    missing = None if args.no_browser else browser_missing()
    if missing:
        print(f"benchmarks/explorer.py: {missing}")
        return 2
    stats = build(out, args.methods, args.pool, args.top)
    thumbs = sorted((out / "thumbs").glob("*.jpg"))
    stats["thumbnail_files"] = len(thumbs)
    stats["methods"] = args.methods
    if not args.no_browser:
        stats.update(browser_timings(out / "index.html"))
    mb = 1024 * 1024
    lines = [
        ("cards (neurons)", f"{stats['n_cards']:,}"),
        ("methods per card", f"{args.methods}"),
        ("write_explorer", f"{stats['write_s']:.1f} s (data {stats['data_s']:.2f} s, "
                           f"thumbnails {stats['thumbnails_s']:.1f} s, of which making the "
                           f"synthetic images {stats['image_generation_s']:.1f} s thread-time)"),
        ("index.html", f"{stats['html_bytes'] / 1024:.1f} KiB"),
        ("data.js", f"{stats['data_bytes'] / mb:.2f} MiB"),
        ("thumbnails", f"{stats['n_thumbnails']:,} files, {stats['thumbnail_bytes'] / mb:.1f} MiB"),
    ]
    if not args.no_browser:
        lines += [
            ("chromium", stats["chromium"]),
            ("first card", f"in the DOM {stats['first_card_ms']:.0f} ms after navigation, "
                           f"painted {stats['first_card_painted_ms']:.0f} ms (render "
                           f"{stats['first_render_ms']:.0f} ms; wall from goto "
                           f"{stats['wall_first_card_ms']:.0f} ms)"),
            ("load event", f"{stats['load']:.0f} ms; {stats['cards_in_dom']} cards, "
                           f"{stats['canvases_in_dom']} canvases in the DOM"),
            ("search 'striped'", f"{stats['search_sync_ms']:.1f} ms sync, "
                                 f"{stats['search_frame_ms']:.1f} ms to next frame "
                                 f"({stats['search_result']})"),
            ("sort by simulation", f"{stats['sort_simulation_sync_ms']:.1f} ms sync, "
                                   f"{stats['sort_simulation_frame_ms']:.1f} ms to frame"),
            ("next page", f"{stats['next_page_sync_ms']:.1f} ms sync, "
                          f"{stats['next_page_frame_ms']:.1f} ms to frame"),
        ]
        if stats["page_errors"] or not stats["all_updated"]:
            lines.append(("PROBLEM", f"errors {stats['page_errors']}, "
                                     f"all updated {stats['all_updated']}"))
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"{k:<{width}}  {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
