"""The neuron explorer (conceptlens.report.explorer): its data file, thumbnails, maps,
ground truth and offline page; with chromium and playwright, the page's search."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conceptlens.report.explorer import (
    PAGE_SIZE,
    decode_maps,
    normalise_maps,
    read_explorer_data,
    write_explorer,
)

CHROMIUM = "/usr/bin/chromium"
METHODS = ("www", "soft_wpmi")
N_TOP = 4
# described units: layer4 (conv, 5 rows of top images) units 0, 1, 3; fc units 0, 2
DESCRIBED = {"layer4": (0, 1, 3), "fc": (0, 2)}
CONCEPTS = {("layer4", 0): "Striped", ("layer4", 1): "dotted", ("layer4", 3): "grass",
            ("fc", 0): "zebra", ("fc", 2): "sky"}


def make_cards(ground_truth: bool = True, evidence: bool = True) -> pd.DataFrame:
    rows = []
    for (layer, unit), concept in CONCEPTS.items():
        for k, method in enumerate(METHODS):
            if (layer, unit) == ("fc", 2) and method == "www":
                continue  # a neuron that only one method describes
            row = {"method": method, "layer": layer, "unit": unit,
                   "concept": concept if k == 0 else f"{concept}-{method}",
                   "concepts": [concept if k == 0 else f"{concept}-{method}", "Wooden plank"]}
            if evidence:
                row.update(simulation_pearson=0.1 * unit + 0.01 * k, contrast_auc=0.6,
                           beats_shuffled=bool(unit % 2), heldout_agrees=True,
                           flags="weak,unstable" if unit == 1 else "")
            if ground_truth:
                row.update(gt_concept="striped" if layer == "layer4" else None,
                           hit=(1.0 if unit == 0 else 0.0) if layer == "layer4" else np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def make_arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    top = {"layer4": rng.integers(0, 23, (5, N_TOP)),
           "fc": rng.integers(100, 110, (3, N_TOP))}
    maps = {"layer4": rng.random((5, N_TOP, 7, 7)).astype(np.float16), "fc": None}
    return top, maps


class Thumbs:
    """A thumbnail source that counts its calls (a probe image per id)."""

    def __init__(self):
        self.calls: Counter[int] = Counter()

    def __call__(self, image_id: int) -> Image.Image:
        self.calls[image_id] += 1
        value = (image_id * 37) % 256
        return Image.fromarray(np.full((90, 120, 3), value, dtype=np.uint8))


def used_ids(top) -> set[int]:
    return {int(i) for layer, units in DESCRIBED.items() for u in units for i in top[layer][u]}


@pytest.fixture
def explorer(tmp_path):
    top, maps = make_arrays()
    thumbs = Thumbs()
    out = tmp_path / "explorer"
    (out / "thumbs").mkdir(parents=True)
    (out / "thumbs" / "99999.jpg").write_bytes(b"stale")  # an earlier run's
    summary = write_explorer(out, make_cards(), top, maps, thumbs, thumbnail_size=48,
                             title="test explorer", methods=METHODS)
    return out, summary, top, maps, thumbs


def test_one_card_per_neuron_with_methods_side_by_side(explorer):
    out, summary, *_ = explorer
    data = read_explorer_data(out)
    ids = [(data["layers"][c["layer"]]["name"], c["unit"]) for c in data["cards"]]
    assert ids == [(layer, u) for layer, units in DESCRIBED.items() for u in units]
    assert summary["n_cards"] == len(ids) == len(data["search"])
    for card in data["cards"]:
        key = (data["layers"][card["layer"]]["name"], card["unit"])
        methods = [m["method"] for m in card["methods"]]
        assert methods == (["soft_wpmi"] if key == ("fc", 2) else list(METHODS))
        by = {m["method"]: m for m in card["methods"]}
        if "soft_wpmi" in by:
            assert by["soft_wpmi"]["concept"] == f"{CONCEPTS[key]}-soft_wpmi"
        if "www" in by:
            assert by["www"]["concept"] == CONCEPTS[key]
            assert by["www"]["concepts"] == [CONCEPTS[key], "Wooden plank"]
    first = data["cards"][1]["methods"][0]  # layer4 unit 1, www
    assert first["flags"] == ["weak", "unstable"] and first["beats_shuffled"] is True
    assert first["simulation_pearson"] == pytest.approx(0.1)


def test_cards_images_are_the_units_top_images(explorer):
    out, _, top, *_ = explorer
    data = read_explorer_data(out)
    for card in data["cards"]:
        layer = data["layers"][card["layer"]]["name"]
        assert card["images"] == top[layer][card["unit"]].tolist()


def test_thumbnails_exactly_the_distinct_ids_used(explorer):
    out, summary, top, _, thumbs = explorer
    files = {p.name for p in (out / "thumbs").iterdir()}
    assert files == {f"{i}.jpg" for i in used_ids(top)}  # the stale one is gone
    assert summary["n_thumbnails"] == len(files)
    assert set(thumbs.calls) == used_ids(top) and set(thumbs.calls.values()) == {1}
    with Image.open(out / "thumbs" / next(iter(files))) as img:
        assert img.format == "JPEG" and img.size == (48, 48)
    assert summary["thumbnail_bytes"] == sum(p.stat().st_size for p in (out / "thumbs").iterdir())


def test_search_index_holds_every_methods_concepts_lowercased(explorer):
    out, *_ = explorer
    data = read_explorer_data(out)
    for card, text in zip(data["cards"], data["search"], strict=True):
        terms = text.split("\n")
        for m in card["methods"]:
            for concept in m["concepts"]:
                assert concept.lower() in terms
        assert text == text.lower()
    assert "striped" in data["search"][0]  # "Striped" found case-insensitively


def test_ground_truth_only_when_given(tmp_path, explorer):
    out, *_ = explorer
    data = read_explorer_data(out)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert data["has_ground_truth"] and "hit" in data["fields"]
    assert [c["gt"] for c in data["cards"]] == ["striped"] * 3 + [None, None]
    assert data["cards"][0]["methods"][0]["hit"] == 1.0
    assert "No ground truth" not in html and 'id="gt"' in html

    top, maps = make_arrays()
    for cards in (make_cards(ground_truth=False),
                  make_cards().assign(gt_concept=None, hit=np.nan)):
        bare = tmp_path / f"bare{len(cards.columns)}"
        write_explorer(bare, cards, top, maps, Thumbs())
        data = read_explorer_data(bare)
        html = (bare / "index.html").read_text(encoding="utf-8")
        assert not data["has_ground_truth"] and "hit" not in data["fields"]
        assert all("gt" not in c for c in data["cards"])
        assert html.count("No ground truth: descriptions are ranked by evidence.") == 1
        assert 'id="gt"' not in html


def test_maps_encoded_for_the_conv_layer_only(explorer):
    out, _, _, maps, _ = explorer
    data = read_explorer_data(out)
    conv, fc = data["layers"]
    assert conv["name"] == "layer4" and fc["name"] == "fc" and fc["maps"] is None
    assert conv["n_top"] == fc["n_top"] == N_TOP
    decoded = decode_maps(conv["maps"], conv["n_top"])
    units = list(DESCRIBED["layer4"])
    assert decoded.shape == (len(units), N_TOP, 7, 7)
    np.testing.assert_array_equal(decoded, normalise_maps(maps["layer4"][units]))
    assert [c["map"] for c in data["cards"]] == [0, 1, 2, None, None]
    assert (decoded.reshape(len(units), -1).max(axis=1) == 255).all()
    assert (decoded.reshape(len(units), -1).min(axis=1) == 0).all()


def test_normalise_maps_per_neuron():
    maps = np.zeros((3, 2, 2, 2), dtype=np.float16)
    maps[0, 0] = [[0, 1], [2, 4]]
    maps[0, 1] = 2  # the weaker second image stays weaker
    maps[1] = 5  # constant -> 0
    maps[2, 0, 0, 0] = np.nan
    maps[2, 1, 1, 1] = 3
    out = normalise_maps(maps)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [[0, 64], [128, 255]])
    assert (out[0, 1] == 128).all() and (out[1] == 0).all()
    assert out[2, 0, 0, 0] == 0 and out[2, 1, 1, 1] == 255


def test_page_is_offline_and_relative(explorer):
    out, summary, *_ = explorer
    html = (out / "index.html").read_text(encoding="utf-8")
    script = (out / "data.js").read_text(encoding="ascii")
    for text in (html, script):
        assert not re.search(r"https?:", text), "the explorer must not reference the network"
        assert "//cdn" not in text
    assert re.findall(r'<script src="([^"]+)"', html) == ["data.js"]
    assert "<link" not in html and "fetch(" not in html and "XMLHttpRequest" not in html
    assert '"thumbs":"thumbs/"' in script
    assert 'href="../../report.html"' in html
    assert summary["html_bytes"] == len(html.encode("utf-8"))
    assert summary["data_bytes"] == len(script)


def test_absent_evidence_is_not_shown(tmp_path):
    top, maps = make_arrays()
    out = tmp_path / "plain"
    write_explorer(out, make_cards(evidence=False), top, maps, Thumbs(), report_link=None)
    data = read_explorer_data(out)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert data["evidence"] == [] and data["fields"] == ["concept", "concepts", "hit"]
    for control in ('id="beats"', 'id="heldout"', 'id="min-sim"', 'value="simulation"',
                    "back to the report"):
        assert control not in html
    cards = make_cards().assign(contrast_auc=np.nan)  # all missing = absent
    write_explorer(out, cards, top, maps, Thumbs())
    assert "contrast_auc" not in read_explorer_data(out)["evidence"]


def test_bad_inputs_are_errors(tmp_path):
    top, maps = make_arrays()
    cards = make_cards()
    with pytest.raises(ValueError, match="duplicate"):
        write_explorer(tmp_path / "a", pd.concat([cards, cards.iloc[:1]]), top, maps, Thumbs())
    with pytest.raises(ValueError, match="no row in top_images"):
        write_explorer(tmp_path / "b", cards, {**top, "fc": top["fc"][:2]}, maps, Thumbs())
    with pytest.raises(ValueError, match="maps of layer layer4"):
        write_explorer(tmp_path / "c", cards, top, {"layer4": maps["layer4"][:, :2]}, Thumbs())
    with pytest.raises(ValueError, match="missing column"):
        write_explorer(tmp_path / "d", cards.drop(columns="concept"), top, maps, Thumbs())


def test_no_cards_writes_an_empty_page(tmp_path):
    cards = pd.DataFrame(columns=["method", "layer", "unit", "concept"])
    summary = write_explorer(tmp_path / "e", cards, {}, {}, Thumbs())
    assert summary["n_cards"] == summary["n_thumbnails"] == 0
    assert read_explorer_data(tmp_path / "e")["cards"] == []


# ---------------------------------------------------------------- in a browser (optional)


def _browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"behaviour test needs chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("behaviour test needs python playwright (pip install playwright)")
    return sync_playwright


def test_browser_search_filters_cards(tmp_path):
    sync_playwright = _browser()
    top, maps = make_arrays()
    small = tmp_path / "small"
    write_explorer(small, make_cards(), top, maps, Thumbs(), methods=METHODS)
    # a larger one: more neurons than a page holds
    n = PAGE_SIZE * 2 + 7
    big_cards = pd.DataFrame({"method": "www", "layer": "fc", "unit": np.arange(n),
                              "concept": ["striped" if u % 10 == 0 else "plain"
                                          for u in range(n)]})
    big = tmp_path / "big"
    write_explorer(big, big_cards, {"fc": np.arange(n * 2).reshape(n, 2)}, {}, Thumbs())
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        def ids() -> list[str]:
            return page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.id)")

        page.goto((small / "index.html").as_uri())
        page.wait_for_selector("body[data-ready]")
        assert ids() == ["layer4:0", "layer4:1", "layer4:3", "fc:0", "fc:2"]
        assert page.locator("article[data-id='layer4:0'] canvas").count() == N_TOP
        assert page.locator("article[data-id='fc:0'] canvas").count() == 0
        page.fill("#q", "STRIPED")
        page.wait_for_function("document.body.dataset.updates === '2'")
        assert ids() == ["layer4:0"]
        assert page.locator("article mark").first.inner_text().lower() == "striped"
        page.fill("#q", "plank")  # a concept of every neuron, second in the list
        page.wait_for_function("document.body.dataset.updates === '3'")
        assert len(ids()) == 5
        page.fill("#q", "")
        page.select_option("#layer", "1")
        page.wait_for_function("document.body.dataset.updates === '5'")
        assert ids() == ["fc:0", "fc:2"]
        page.check("#beats")
        page.wait_for_function("document.body.dataset.updates === '6'")
        assert ids() == []  # fc units 0, 2: www beats nothing and fc:2 has no www row
        page.select_option("#method", "1")
        page.wait_for_function("document.body.dataset.updates === '7'")
        assert ids() == []
        page.uncheck("#beats")
        page.select_option("#sort", "simulation")
        page.wait_for_function("document.body.dataset.updates === '9'")
        assert ids() == ["fc:2", "fc:0"]  # soft_wpmi's simulation, highest first

        page.goto((big / "index.html").as_uri())
        page.wait_for_selector("body[data-ready]")
        assert page.locator(".card").count() == PAGE_SIZE  # one page in the DOM
        assert "No ground truth" in page.content()
        page.click("#pager-top button[data-go='1']")
        page.wait_for_function("document.body.dataset.updates === '2'")
        assert ids()[0] == f"fc:{PAGE_SIZE}"
        page.fill("#q", "striped")
        page.wait_for_function("document.body.dataset.updates === '3'")
        assert ids() == [f"fc:{u}" for u in range(0, n, 10)]
        assert "#q=striped" in page.url  # the state is in the address
        page.goto((big / "index.html").as_uri() + "#q=plain&page=2")
        page.reload()
        page.wait_for_selector("body[data-ready]")
        plain = [f"fc:{u}" for u in range(n) if u % 10]
        assert page.input_value("#q") == "plain"
        assert ids() == plain[PAGE_SIZE:2 * PAGE_SIZE]
        browser.close()
    assert errors == []


def test_benchmark_script_runs_small(tmp_path):
    """benchmarks/explorer.py's synthetic data build (no browser) at a small size."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_explorer", Path(__file__).resolve().parents[1] / "benchmarks" / "explorer.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    cards = bench.synthetic_cards(2, rng)
    assert len(cards) == 2 * (2048 + 1000)
    assert bench.procedural_image(5).size == (96, 96)

