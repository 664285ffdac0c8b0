"""The report: neuron selection, number formatting, tables, figures, and the rendered
HTML and PDF of a small fake run (its two rule scripts run as Snakemake would run them)."""

from __future__ import annotations

import base64
import io
import json
import re
import runpy
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conceptlens.io.convis import load_maps, read_missing_maps, save_maps
from conceptlens.io.neurons import read_neurons
from conceptlens.io.paths import parse_result_path
from conceptlens.report import figures, table_models
from conceptlens.report.formatting import (
    format_count,
    format_metric,
    format_se,
    format_seconds,
)
from conceptlens.report.inputs import discover_inputs
from conceptlens.report.sections.crops import box_coverage, gain_and_loss_images
from conceptlens.report.selection import neuron_records, select_neurons
from conceptlens.world.generate import SplitSpec, write_split

REPO = Path(__file__).resolve().parents[1]
SHAPES = ["circle", "square", "triangle", "star", "cross", "heart", "ring", "diamond",
          "crescent", "arrow"]
METHODS = ["www", "gradcam_tvmf", "soft_wpmi"]
LAYER_UNITS = {"layer4": 6, "fc": 10}
N_IMAGES, K = 24, 10
CONFIG = {
    "run": "fake", "layers": ["layer4", "fc"], "concept_sets": {"world": None},
    "world": {"image_size": 64, "probe_images": N_IMAGES, "probe_seed": 7},
    "views": {"center_fraction": 0.75, "gradcam_fraction": None, "gradcam_layer": "layer4"},
    "templates": {"photo": "A photo of a {}", "bare": "{}"},
    "methods": {
        "www": {"family": "www", "view": "center", "similarity": "cosine", "k": 40,
                "alpha": 0.95, "template": "photo"},
        "gradcam_tvmf": {"family": "www", "view": "gradcam", "similarity": "tvmf", "kappa": 1,
                         "k": 40, "alpha": 0.95, "template": "photo"},
        "soft_wpmi": {"family": "clip_dissect", "view": "full", "function": "soft_wpmi",
                      "template": "bare"}},
    "metrics": {"clip_model": "world", "sentence_model": "all-MiniLM-L6-v2"},
}


# --------------------------------------------------------------------------- a fake run


class Named(list):
    """A list with named entries, like snakemake's input/output objects."""

    def __init__(self, items=(), **named):
        super().__init__(items)
        self.__dict__.update(named)


def _write_tsv(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\n"
                    f"{seconds}\t0:00:{int(seconds):02d}\t512.5\t900.0\n")


def _descriptions(method: str, layer: str, rng: np.random.Generator) -> pd.DataFrame:
    units = np.arange(LAYER_UNITS[layer])
    concepts = [[SHAPES[(u + (m := METHODS.index(method))) % 10], SHAPES[(u + m + 3) % 10]]
                for u in units]
    return pd.DataFrame({"layer": layer, "unit": units, "concept": [c[0] for c in concepts],
                         "concepts": concepts,
                         "scores": [list(rng.random(2)) for _ in units],
                         "top5": [c + ["tree", "car", "dog"] for c in concepts],
                         "top5_scores": [list(rng.random(5)) for _ in units],
                         "weak": units == 1})


def make_run(root: Path) -> Path:
    """A small results/<run> folder: 24 world probe images and tiny tables."""
    rng = np.random.default_rng(0)
    write_split(SplitSpec(seed=7, n_images=N_IMAGES, image_size=64), root / "world" / "probe")
    ids = np.arange(N_IMAGES)
    center = np.tile([8, 8, 56, 56], (N_IMAGES, 1))
    shift = rng.integers(-8, 9, size=(N_IMAGES, 2))
    gradcam = center + np.concatenate([shift, shift], axis=1)
    for view, boxes in (("center", center), ("gradcam", gradcam)):
        (root / "views" / view).mkdir(parents=True)
        pd.DataFrame({"image_id": ids, "x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 2],
                      "y1": boxes[:, 3]}).to_parquet(root / "views" / view / "boxes.parquet")
        for layer, n in LAYER_UNITS.items():
            (root / "topk" / view).mkdir(parents=True, exist_ok=True)
            indices = np.stack([rng.permutation(N_IMAGES)[:K] for _ in range(n)])
            np.savez(root / "topk" / view / f"{layer}.npz", indices=indices.astype(np.int32),
                     values=np.sort(rng.random((n, K)))[:, ::-1].astype(np.float16))
    gt = [{"layer": "layer4", "unit": u, "concept": SHAPES[u], "synonyms": SHAPES[u],
           "attribute": "shape", "auroc": 0.9, "source": "auroc"} for u in range(5)]
    gt += [{"layer": "fc", "unit": u, "concept": s, "synonyms": f"{s}|{s}s",
            "attribute": "shape", "auroc": 0.99, "source": "class"} for u, s in enumerate(SHAPES)]
    (root / "ground_truth").mkdir()
    pd.DataFrame(gt).to_parquet(root / "ground_truth" / "neurons.parquet")
    per_neuron, table1 = [], []
    for method in METHODS:
        for layer in LAYER_UNITS:
            d = _descriptions(method, layer, rng)
            path = root / "descriptions" / "world" / method / f"{layer}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            d.to_parquet(path)
            truth = {r["unit"]: r["concept"] for r in gt if r["layer"] == layer}
            units = sorted(truth)
            hit = np.array([float(truth[u] in d.loc[u, "concepts"]) for u in units])
            f1 = hit * 2 / 3
            cos = 0.5 + 0.1 * rng.random(len(units))
            per_neuron.append(pd.DataFrame({
                "layer": layer, "unit": units, "hit": hit, "precision": hit / 2, "recall": hit,
                "f1": f1, "clip_cos": cos, "sentence_cos": cos - 0.1, "rank": 1.0,
                "method": method}))
            row = {"method": method, "layer": layer, "n_neurons": len(units)}
            ranks = 1.0 + 3 * (1 - hit) + rng.integers(0, 3, len(units))
            for name, values in (("hit_rate", hit), ("f1", f1), ("clip_cos", cos),
                                 ("sentence_cos", cos - 0.1), ("top1", ranks <= 1),
                                 ("top5", ranks <= 5), ("mean_rank", ranks)):
                values = np.asarray(values, dtype=float)
                row[name] = values.mean()
                row[f"{name}_se"] = values.std(ddof=1) / np.sqrt(len(values))
            table1.append(row)
    (root / "metrics" / "world").mkdir(parents=True)
    pd.concat(per_neuron).to_parquet(root / "metrics" / "world" / "per_neuron.parquet")
    t1 = pd.DataFrame(table1)
    t1.to_csv(root / "metrics" / "world" / "table1.csv", index=False)
    abl = t1[t1["method"].isin(["www", "gradcam_tvmf"])].assign(
        gradcam=lambda f: f["method"] == "gradcam_tvmf", tvmf=lambda f: f["method"] != "www")
    abl.to_csv(root / "metrics" / "world" / "ablation.csv", index=False)
    from conceptlens.claims import claims_table

    claims_table({"world": pd.concat(per_neuron)}, {"world": 20},
                 {"none": "www", "both": "gradcam_tvmf"}, n_boot=200).to_csv(
        root / "metrics" / "claims.csv", index=False)
    _write_tsv(root / "benchmarks" / "views" / "gradcam.tsv", 12.5)
    _write_tsv(root / "benchmarks" / "describe" / "world" / "www" / "fc.tsv", 3.25)
    _write_tsv(root / "benchmarks" / "describe" / "world" / "www" / "layer4.tsv", 4.0)
    return root


def make_extras(root: Path, neurons: dict) -> dict[str, list[str]]:
    """Stability, localisation and ConVis files in the other helpers' formats."""
    (root / "stability").mkdir()
    (root / "convis").mkdir()
    # as many rows as the world's table (two methods x all + 5 layers): with the chart
    # they fill one landscape page, which the page-layout test checks
    layers = ["all", "layer1", "layer2", "layer3", "layer4", "fc"]
    pd.DataFrame({"name": ["fake_world_soft_wpmi"] * 6 + ["fake_world_wpmi"] * 6,
                  "layer": layers * 2, "k=5->10": [62.5, 70.0] * 6,
                  "k=5->16": [48.1, 60.0] * 6, "jaccard 5->10": [0.81, 0.9] * 6,
                  "jaccard 5->16": [0.74, 0.8] * 6, "top-1 5->10": [91.2, 100.0] * 6,
                  "top-1 5->16": [88.0, 90.0] * 6, "subsample top-1 mean": [84.3, 90.0] * 6,
                  "subsample top-1 std": [1.2, 0.0] * 6, "neurons": [16, 10] * 6}
                 ).to_csv(root / "stability" / "table.csv", index=False)
    Image.new("RGB", (700, 350), (40, 90, 160)).save(root / "stability" / "chart.png")
    (root / "stability" / "chart.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    pd.DataFrame({"method": ["convis", "centre"], "attribute": "shape", "pointing": [71.0, 9.0],
                  "pointing_se": [4.5, 2.9], "energy_share": [0.355, 0.045],
                  "energy_share_se": [0.02, 0.01], "images": 20}
                 ).to_csv(root / "convis" / "localisation.csv", index=False)
    # every neuron's maps but the first's, whose concept is not a hierarchy node (as the
    # convis_maps stage records it)
    first, *rest = neurons["neurons"]
    keys = [(n["layer"], n["unit"], i, n["concept"]) for n in rest for i in n["image_ids"]]
    yy, xx = np.mgrid[0:64, 0:64]
    maps = np.stack([np.exp(-((xx - 20) ** 2 + (yy - 40) ** 2) / 200.0)] * len(keys))
    save_maps(root / "convis" / "neuron_maps.npz", [k[0] for k in keys], [k[1] for k in keys],
              [k[2] for k in keys], [k[3] for k in keys], maps,
              missing=[{"layer": first["layer"], "unit": first["unit"],
                        "concept": "crescent moon",
                        "reason": "'crescent moon' is not a node of the world hierarchy"}])
    return {"stability_table": [str(root / "stability" / "table.csv")],
            "stability_png": [str(root / "stability" / "chart.png")],
            "stability_svg": [str(root / "stability" / "chart.svg")],
            "localisation": [str(root / "convis" / "localisation.csv")],
            "neuron_maps": [str(root / "convis" / "neuron_maps.npz")]}


def run_script(name: str, inputs: dict, output: Named, params: dict, log: Path) -> None:
    """Run scripts/<name> with a fake ``snakemake`` object, as the script directive does."""
    fake = SimpleNamespace(input=Named(**inputs), output=output,
                           params=SimpleNamespace(**params), log=[str(log)], threads=1,
                           rule=name.removesuffix(".py"), wildcards=SimpleNamespace())
    runpy.run_path(str(REPO / "scripts" / name), init_globals={"snakemake": fake})


NEURON_PARAMS = {"layers": ["fc", "layer4"], "method": "gradcam_tvmf", "view": "gradcam",
                 "concept_set": "world", "choose": {"best": 2, "worst": 2, "random": 2},
                 "top_images": 8, "seed": 0}


def settings(**extra) -> dict:
    return {"run": "fake", "title": "Fake report", "config": CONFIG, "published": {},
            "grid_methods": {"WWW": "www", "Grad-CAM + t-vMF": "gradcam_tvmf",
                             "CLIP-Dissect": "soft_wpmi"},
            "top_images": 8, "figure4_images": 4, "pdf_description_rows": 5, **extra}


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> dict:
    root = make_run(tmp_path_factory.mktemp("results") / "fake")
    inputs = discover_inputs(root)
    neurons_path = root / "report" / "neurons.json"
    run_script("report_neurons.py", {
        "per_neuron": inputs["per_neuron"][0],
        "descriptions": [p for p in inputs["descriptions"] if "/gradcam_tvmf/" in p],
        "topk": [p for p in inputs["topk"] if "/gradcam/" in p], "evidence": []},
        Named([str(neurons_path)]), NEURON_PARAMS, root / "report_neurons.log")
    doc = json.loads(neurons_path.read_text())
    inputs = {**discover_inputs(root), **make_extras(root, doc)}
    out = root / "out"
    run_script("report.py", inputs, Named(html=str(out / "report.html"),
                                          pdf=str(out / "report.pdf")),
               {"settings": settings()}, root / "report.log")
    minimal = {k: v for k, v in discover_inputs(root).items()
               if k in ("table1", "ablation", "descriptions", "ground_truth", "benchmarks")}
    run_script("report.py", minimal, Named(html=str(out / "minimal.html"),
                                           pdf=str(out / "minimal.pdf")),
               {"settings": settings(pdf_description_rows=40)}, root / "minimal.log")
    return {"root": root, "inputs": inputs, "doc": doc, "out": out}


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.refs, self.headings, self._h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.refs.append(a[key])
        if tag == "link":
            self.refs.append(a.get("href", "link"))
        self._h2 = tag == "h2"

    def handle_data(self, data):
        if self._h2:
            self.headings.append(" ".join(data.split()))
            self._h2 = False


def parse_html(path: Path) -> _Images:
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return " ".join(out.split())


def contains_number(text: str, number: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", text) is not None


# --------------------------------------------------------------------------- rendering


def test_every_image_is_embedded_png_and_nothing_external(fake_run):
    parsed = parse_html(fake_run["out"] / "report.html")
    assert len(parsed.images) >= 10
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
            img.load()
            assert img.width > 0 and img.height > 0
    assert all(ref.startswith("#") for ref in parsed.refs), parsed.refs
    html = (fake_run["out"] / "report.html").read_text()
    assert "<script>" in html and "<script src" not in html and "http://" not in html


def test_sections_present_in_order(fake_run):
    headings = parse_html(fake_run["out"] / "report.html").headings
    titles = [h.split(" ", 1)[1].strip() for h in headings]
    assert titles == ["Summary", "Descriptions against the ground truth",
                      "Grad-CAM × t-vMF ablation", "The seeds' claims, measured",
                      "Stability of CLIP-Dissect labels",
                      "Neurons and their top images", "Centre crop versus Grad-CAM crop",
                      "ConVis localisation", "All descriptions"]
    assert [h.split(" ", 1)[0] for h in headings] == [str(k) for k in range(1, 10)]


def test_the_claims_table_prints_each_difference_and_interval(fake_run):
    claims = pd.read_csv(fake_run["root"] / "metrics" / "claims.csv")
    assert set(claims["comparison"]) == {"Grad-CAM + t-vMF vs WWW"}
    html = (fake_run["out"] / "report.html").read_text()
    body = html.split('id="table-claims"', 1)[1].split("</table>", 1)[0]
    for _, row in claims.iterrows():
        low, high = (format_metric(row[c], "hit_rate") for c in ("ci_low", "ci_high"))
        assert f"[{low}, {high}]" in body and row["verdict"] in body


def test_optional_sections_left_out_without_inputs(fake_run):
    headings = parse_html(fake_run["out"] / "minimal.html").headings
    titles = [h.split(" ", 1)[1].strip() for h in headings]
    assert titles == ["Summary", "Descriptions against the ground truth",
                      "Grad-CAM × t-vMF ablation", "All descriptions"]
    html = (fake_run["out"] / "minimal.html").read_text().split("</style>", 1)[1]
    assert "ConVis" not in html and "Stability" not in html and "<figure" not in html
    assert "Table 3:" in html and "Table 4:" not in html  # numbering follows what is shown


def test_pdf_has_table1_headers_and_values_as_printed(fake_run):
    text = pdf_text(fake_run["out"] / "report.pdf")
    for header in table_models.TABLE1_METRICS.values():
        assert header in text
    t1 = pd.read_csv(fake_run["root"] / "metrics" / "world" / "table1.csv")
    for _, row in t1.iterrows():
        for metric in table_models.TABLE1_METRICS:
            assert contains_number(text, format_metric(row[metric], metric)), (metric, row)
            assert format_se(row[f"{metric}_se"], metric) in text
    assert "Table 1:" in text and "Figure 1:" in text


def test_descriptions_all_in_html_first_rows_in_pdf(fake_run):
    n_rows = len(METHODS) * sum(LAYER_UNITS.values())
    html = (fake_run["out"] / "report.html").read_text()
    body = html.split('id="table-descriptions"', 1)[1].split("</table>", 1)[0]
    assert body.count("<tr") == n_rows + 1  # + the header row
    assert f"The first 5 of {n_rows} rows" in pdf_text(fake_run["out"] / "report.pdf")
    assert f"The first 40 of {n_rows} rows" in pdf_text(fake_run["out"] / "minimal.pdf")
    assert "rows" not in body.split("</thead>", 1)[0]  # no note inside the HTML table
    assert "The first" not in html.split('id="table-descriptions"', 1)[1]


def test_pdf_pages_and_size(fake_run):
    pdf = fake_run["out"] / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf.stat().st_size < 20e6
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert "A4" in info or "595" in info


def test_outputs_written_atomically(fake_run):
    names = sorted(p.name for p in fake_run["out"].iterdir())
    assert names == ["minimal.html", "minimal.pdf", "report.html", "report.pdf"]


def test_neuron_grid_rows_and_marks(fake_run):
    html = (fake_run["out"] / "report.html").read_text()
    html = html.split('<section id="neurons"', 1)[1].split("</section>", 1)[0]
    doc = fake_run["doc"]
    assert html.count('class="neuron"') == len(doc["neurons"])
    # each neuron: centre and Grad-CAM rows and the ConVis row, or (the first, see
    # make_extras) a note saying why it has no ConVis map
    assert html.count('alt="Centre crop"') == len(doc["neurons"])
    assert html.count('alt="Grad-CAM crop"') == len(doc["neurons"])
    assert html.count('alt="ConVis: ') == len(doc["neurons"]) - 1
    assert html.count('class="strip no-map"') == 1
    # fc unit 0 (circle): www's first concept is circle (hit), gradcam_tvmf's is square (miss)
    assert "✓&nbsp;circle" in html and "✗&nbsp;square" in html


def _descriptions_filter(html: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The (value, label) options of the description table's method filter, and the Method
    column of its rows."""
    select = html.split('<select id="descriptions-method"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', select)
    body = html.split('id="table-descriptions"', 1)[1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1]
    methods = [re.findall(r"<td[^>]*>([^<]*)</td>", row)[1]
               for row in body.split("<tr")[1:]]
    return options, methods


def test_every_method_in_the_description_table_and_its_method_filter(fake_run):
    html = (fake_run["out"] / "report.html").read_text()
    options, methods = _descriptions_filter(html)
    # every configured method's rows, in the config's order, and one filter entry each
    assert list(dict.fromkeys(methods)) == list(CONFIG["methods"]) == METHODS
    n_rows = sum(LAYER_UNITS.values())
    assert options == [("", f"all {len(METHODS)} methods")] + [
        (m, f"{m} ({n_rows} rows)") for m in METHODS]
    assert f"descriptions of {len(METHODS)} methods ({', '.join(METHODS)})" in html
    # the select's column is the Method column, and the script filters on it
    assert 'data-column="1"' in html and '"-method"' in html
    assert 'addEventListener("change", applyFilter)' in html
    # the PDF prints the first rows and says which, and that the HTML has every method's
    text = pdf_text(fake_run["out"] / "report.pdf")
    assert "The first 5 of" in text and "(concept set world, method www)" in text
    assert f"every row of the {len(METHODS)} methods" in text


JS_DOM_STUB = """
function el(text) { return {textContent: text, attrs: {}, hasAttribute(k) { return k in this.attrs; },
  getAttribute(k) { return this.attrs[k]; }, setAttribute(k, v) { this.attrs[k] = v; },
  removeAttribute(k) { delete this.attrs[k]; }, addEventListener() {}}; }
const data = JSON.parse(process.argv[1]);
const rows = data.rows.map(cells => ({cells: cells.map(el), style: {},
  get textContent() { return this.cells.map(c => c.textContent).join(" "); }}));
const headers = data.columns.map(el);
const table = {id: "table-descriptions", tBodies: [{rows: rows}], tHead: {rows: [{cells: headers}]}};
const filter = Object.assign(el(""), {value: data.text});
const choice = Object.assign(el(""), {value: data.method});
choice.attrs["data-column"] = String(data.columns.indexOf("Method"));
const count = el("");
global.document = {querySelectorAll: () => [table],
  getElementById: id => ({"descriptions-filter": filter, "descriptions-method": choice,
                          "descriptions-count": count})[id] || null};
"""


def test_the_method_filter_script_keeps_the_chosen_methods_rows():
    """sortable.js run by node on a stub of the description table (skipped without node)."""
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = (REPO / "reports" / "templates" / "sortable.js.j2").read_text()
    columns = ["Concept set", "Method", "Layer", "Unit", "Description"]
    rows = [["world", m, layer, "0", "circle"] for m in ("www", "gradcam_tvmf", "soft_wpmi")
            for layer in ("layer4", "fc")]
    probe = "process.stdout.write(JSON.stringify([count.textContent, rows.map(r => r.style.display)]));"
    for method, text, shown in (("", "", 6), ("gradcam_tvmf", "", 2), ("www", "fc", 1),
                                ("soft_wpmi", "nothing", 0)):
        arg = json.dumps({"columns": columns, "rows": rows, "method": method, "text": text})
        out = subprocess.run([node, "-e", JS_DOM_STUB + script + probe, "--", arg],
                             capture_output=True, text=True, check=True).stdout
        counted, display = json.loads(out)
        assert counted == f"{shown} of 6 rows", (method, text)
        kept = [r for r, d in zip(rows, display) if d == ""]
        assert len(kept) == shown and all(method in (r[1], "") for r in kept)


def test_the_description_section_names_configured_methods_without_descriptions():
    from conceptlens.report.sections.descriptions import descriptions_section, method_order

    rows = pd.DataFrame({"concept_set": "world", "method": ["cos", "www"], "layer": "fc",
                         "unit": [0, 1], "concepts": [["circle"], ["star"]]})
    config = {"methods": {"www": {}, "wpmi": {}, "cos": {}}}
    assert method_order(rows, config) == ["www", "wpmi", "cos"]
    section = descriptions_section(rows, pd.DataFrame(columns=["layer", "unit", "concept"]),
                                   pd.DataFrame(), methods=method_order(rows, config))
    assert section.method_filter == [("www", 1), ("cos", 1)]
    assert "No descriptions of wpmi were given to the report." in section.text


def test_a_missing_convis_map_says_why_in_the_grid(fake_run, tmp_path):
    import html as html_lib

    from conceptlens.report.render import render_html
    from conceptlens.report.sections import build_report
    from conceptlens.report.sections.neurons import NO_REASON

    note = "no ConVis map: 'crescent moon' is not a node of the world hierarchy"
    first = fake_run["doc"]["neurons"][0]
    html = html_lib.unescape((fake_run["out"] / "report.html").read_text())
    panels = html.split('<section id="neurons"', 1)[1].split("</section>", 1)[0]
    panel = panels.split('class="neuron"')[1]  # the first neuron's panel
    assert f"{first['layer']} · unit {first['unit']}" in panel and note in panel
    assert panels.count("no ConVis map") == 1
    assert note in pdf_text(fake_run["out"] / "report.pdf")
    # a maps file written before reasons were recorded: the note says where to look
    data = load_maps(fake_run["inputs"]["neuron_maps"][0])
    old = tmp_path / "neuron_maps.npz"
    np.savez(old, **{k: v for k, v in data.items() if not k.startswith("missing_")})
    assert read_missing_maps(old) == {}
    inputs = {**fake_run["inputs"], "neuron_maps": [str(old)]}
    html = html_lib.unescape(render_html({**build_report(inputs, settings()), "pdf": False}))
    assert html.count(f"no ConVis map: {NO_REASON}") == 1
    # a run without ConVis maps says so once, not in every grid
    inputs = {k: v for k, v in fake_run["inputs"].items() if k != "neuron_maps"}
    html = render_html({**build_report(inputs, settings()), "pdf": False})
    assert "This run made no ConVis maps" in html and "no ConVis map:" not in html


def test_maps_file_records_the_neurons_without_maps(tmp_path):
    path = tmp_path / "maps.npz"
    missing = [{"layer": "layer4", "unit": 446, "concept": "crescent moon",
                "reason": "'crescent moon' is not a node of the world hierarchy"}]
    save_maps(path, ["fc"], [3], [12], ["star"], np.zeros((1, 2, 2)), missing=missing)
    assert read_missing_maps(path) == {("layer4", 446): missing[0]["reason"]}
    assert load_maps(path)["concept"].tolist() == ["star"]
    save_maps(path, [], [], [], [], np.zeros((0, 0, 0)))
    assert read_missing_maps(path) == {}
    with pytest.raises(ValueError, match="missing entry 0 has no reason"):
        save_maps(path, [], [], [], [], np.zeros((0, 0, 0)),
                  missing=[{"layer": "fc", "unit": 0, "concept": "x"}])


MIN_PAGE_WORDS = 40
"""Words a PDF page holds at least: a page of a small chart alone (or of a heading alone)
holds only the running head, the chart's caption and the page number, about 20-30."""


def page_words(pdf: Path) -> list[int]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    return [len(subprocess.run(["pdftotext", "-enc", "UTF-8", "-f", str(k), "-l", str(k),
                                str(pdf), "-"], capture_output=True, text=True,
                               check=True).stdout.split()) for k in range(1, pages + 1)]


def test_no_pdf_page_holds_a_lone_small_chart_or_heading(fake_run):
    # the fake stability table has the world run's 12 rows: its chart shares its page
    for name in ("report.pdf", "minimal.pdf"):
        words = page_words(fake_run["out"] / name)
        sparse = [k + 1 for k, n in enumerate(words) if n < MIN_PAGE_WORDS]
        assert not sparse, (name, words)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(fake_run["out"] / "report.pdf"),
                           "-"], capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")
    table = next(k for k, p in enumerate(pages) if re.search(r"Table \d+: Stability", p))
    assert re.search(r"Figure \d+: Stability", pages[table])  # the chart beside its table


# --------------------------------------------------------------------------- neurons.json


def test_neurons_json_format(fake_run):
    doc = fake_run["doc"]
    assert list(doc) == ["concept_set", "method", "view", "neurons"]
    assert (doc["concept_set"], doc["method"], doc["view"]) == ("world", "gradcam_tvmf",
                                                               "gradcam")
    topk = np.load(fake_run["root"] / "topk" / "gradcam" / "fc.npz")["indices"]
    desc = pd.read_parquet(fake_run["root"] / "descriptions/world/gradcam_tvmf/fc.parquet")
    keys = [(n["layer"], n["unit"]) for n in doc["neurons"]]
    assert len(keys) == len(set(keys))
    # fc has 10 neurons with ground truth: 2 + 2 + 2; layer4 has 5: 2 + 2 + 1
    assert [n["layer"] for n in doc["neurons"]] == ["fc"] * 6 + ["layer4"] * 5
    for n in doc["neurons"]:
        assert n["ranked_by"] == "ground truth"
        assert list(n) == ["layer", "unit", "reason", "ranked_by", "concept", "image_ids"]
        if n["layer"] == "fc":
            assert n["image_ids"] == topk[n["unit"], :8].tolist()
            assert n["concept"] == desc.loc[desc["unit"] == n["unit"], "concept"].item()
    assert read_neurons(fake_run["root"] / "report" / "neurons.json") == doc


def per_neuron_frame() -> pd.DataFrame:
    # layer a: f1 ties between units 1 and 2 broken by clip_cos; layer b: 3 neurons
    return pd.DataFrame({
        "method": "m", "layer": ["a"] * 8 + ["b"] * 3,
        "unit": [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2],
        "f1": [0.1, 0.9, 0.9, 0.5, 0.0, 0.4, 0.3, 0.2, 1.0, 0.0, 0.5],
        "clip_cos": [0.5, 0.6, 0.7, 0.5, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    })


def test_select_best_worst_random():
    chosen = select_neurons(per_neuron_frame(), "m", ["a"], {"best": 2, "worst": 2,
                                                            "random": 2}, seed=3)
    assert chosen["reason"].tolist() == ["best", "best", "worst", "worst", "random", "random"]
    assert chosen["unit"].tolist()[:4] == [2, 1, 4, 0]  # tie 0.9: clip_cos 0.7 first
    random_units = chosen["unit"].tolist()[4:]
    assert set(random_units) <= {3, 5, 6, 7} and random_units == sorted(random_units)
    again = select_neurons(per_neuron_frame(), "m", ["a"], {"best": 2, "worst": 2,
                                                           "random": 2}, seed=3)
    pd.testing.assert_frame_equal(chosen, again)
    draws = {tuple(select_neurons(per_neuron_frame(), "m", ["a"], {"random": 2}, seed=s)["unit"])
             for s in range(20)}
    assert len(draws) > 1  # the seed matters


def test_select_fewer_than_asked_and_layer_independence():
    frame = per_neuron_frame()
    small = select_neurons(frame, "m", ["b"], {"best": 2, "worst": 2, "random": 2})
    assert sorted(small["unit"]) == [0, 1, 2] and len(small) == 3
    assert small["reason"].tolist() == ["best", "best", "worst"]
    both = select_neurons(frame, "m", ["b", "a"], {"best": 1, "random": 3}, seed=1)
    alone = select_neurons(frame, "m", ["a"], {"best": 1, "random": 3}, seed=1)
    pd.testing.assert_frame_equal(both[both["layer"] == "a"].reset_index(drop=True), alone)
    assert len(select_neurons(frame, "m", ["zzz"], {"best": 2})) == 0


def test_a_layer_without_ground_truth_is_ranked_by_its_evidence():
    evidence = pd.DataFrame({"method": "m", "layer": "c", "unit": [0, 1, 2, 3],
                             "contrast_auc": [0.1, 0.8, np.nan, 0.8],
                             "simulation_pearson": [0.5, 0.6, 0.9, 0.7]})
    chosen = select_neurons(per_neuron_frame(), "m", ["a", "c"], {"best": 1, "worst": 1},
                            evidence=evidence)
    by_layer = chosen.groupby("layer")
    assert by_layer["ranked_by"].first().to_dict() == {"a": "ground truth", "c": "evidence"}
    c = chosen[chosen["layer"] == "c"]
    # contrast 0.8 ties: simulation 0.7 first; a NaN contrast ranks last
    assert c["unit"].tolist() == [3, 2] and c["reason"].tolist() == ["best", "worst"]
    records = neuron_records(c, {("c", 3): "star", ("c", 2): "moon"},
                             {"c": np.arange(20).reshape(4, 5)}, 2)
    assert [r["ranked_by"] for r in records] == ["evidence", "evidence"]


def test_selection_errors_name_the_problem():
    with pytest.raises(ValueError, match="method 'x'"):
        select_neurons(per_neuron_frame(), "x", ["a"], {"best": 1})
    with pytest.raises(ValueError, match="unknown reason"):
        select_neurons(per_neuron_frame(), "m", ["a"], {"top": 1})
    chosen = select_neurons(per_neuron_frame(), "m", ["a"], {"best": 1})
    with pytest.raises(ValueError, match="unit 2"):
        neuron_records(chosen, {("a", 2): "star"}, {"a": np.zeros((2, 5), int)}, 3)


# --------------------------------------------------------------------------- pieces


def test_parse_result_path():
    p = parse_result_path("results/w/descriptions/world/gradcam_tvmf/layer4.1.parquet")
    assert (p.kind, p.concept_set, p.method, p.layer) == ("descriptions", "world",
                                                          "gradcam_tvmf", "layer4.1")
    assert parse_result_path("results/w/metrics/cs/table1.csv").concept_set == "cs"
    t = parse_result_path("x/topk/gradcam/fc.npz")
    assert (t.kind, t.view, t.layer) == ("topk", "gradcam", "fc")
    b = parse_result_path("results/w/benchmarks/describe/world/www/fc.tsv")
    assert (b.kind, b.stage, b.job) == ("benchmark", "describe", "describe/world/www/fc")
    assert parse_result_path("results/w/views/center/boxes.parquet").view == "center"
    with pytest.raises(ValueError, match="results/w/other.txt"):
        parse_result_path("results/w/other.txt")


def test_format_functions():
    assert format_metric(0.671875, "hit_rate") == "67.2"
    assert format_metric(1.0, "f1") == "100.0"
    assert format_metric(-0.0, "f1") == "0.0"
    assert format_metric(3.61328125, "mean_rank") == "3.61"
    assert format_metric(float("nan"), "f1") == "–" and format_metric(None, "f1") == "–"
    assert format_se(0.0207708, "hit_rate") == "± 2.1" and format_se(np.nan, "f1") == ""
    assert format_seconds(4.24) == "4.2 s" and format_seconds(119.6) == "2 min 00 s"
    assert format_seconds(7260) == "2 h 01 min"
    assert format_count(4698) == "4,698"


def test_table1_bold_per_group_ties_and_published():
    frame = pd.DataFrame({
        "concept_set": "cs", "method": ["a", "b", "c", "a", "b"],
        "layer": ["l1", "l1", "l1", "l2", "l2"],
        "hit_rate": [0.50, 0.90, 0.90004, 1.0, 0.2], "hit_rate_se": 0.01,
        "f1": [0.7, 0.1, 0.2, 0.0, 0.5], "clip_cos": 0.5, "sentence_cos": np.nan})
    t = table_models.table1(frame, {"cs": {"b": {"l1": {"hit_rate": 95.0, "f1": 80.0}}}})
    rows = [r for r in t.rows if r.cls != "group"]
    assert [r.cells[0].text for r in rows] == ["a", "b", "b (published)", "c", "a", "b"]
    bold = [[c.bold for c in r.cells[1:]] for r in rows]
    assert [b[0] for b in bold] == [False, True, False, True, True, False]  # 90.0 tie in print
    assert [b[1] for b in bold] == [True, False, False, False, False, True]
    assert all(b[2] for i, b in enumerate(bold) if i != 2)  # clip_cos all equal
    assert not any(b[3] for b in bold)  # NaN column: nothing bold
    published = rows[2]
    assert published.cls == "published"
    assert [c.text for c in published.cells[1:]] == ["95.0", "80.0", "–", "–", "–", "–", "–"]
    assert any("published" in n for n in t.notes)
    with pytest.raises(ValueError, match="accuracy"):
        table_models.table1(frame, {"cs": {"a": {"accuracy": 1.0}}})


def test_localisation_units_and_stability_headers():
    loc = table_models.localisation(pd.DataFrame({
        "method": ["convis", "centre"], "attribute": "shape", "pointing": [71.0, 9.0],
        "pointing_se": [4.5, 2.9], "energy_share": [0.355, 0.045],
        "energy_share_se": [0.02, 0.01], "images": 100}))
    convis = loc.rows[1].cells
    assert (convis[1].text, convis[1].se, convis[1].bold) == ("71.0", "± 4.5", True)
    assert (convis[2].text, convis[2].se) == ("35.5", "± 2.0")
    assert table_models.stability_header("k=5->16") == "Same set 5→16 (%)"
    assert table_models.stability_header("jaccard 5->10") == "Jaccard 5→10"


def test_draw_box_fit_and_overlay():
    image = np.zeros((4, 4, 3), np.uint8)
    big, scale = figures.fit(image, side=8)
    assert big.shape == (8, 8, 3) and scale == 2.0
    boxed = figures.draw_box(big, (1, 1, 3, 3), scale, (255, 0, 0), width=1)
    outline = np.zeros((8, 8), bool)
    outline[2, 2:6] = outline[5, 2:6] = outline[2:6, 2] = outline[2:6, 5] = True
    assert np.array_equal(boxed[..., 0] == 255, outline)
    small, scale = figures.fit(np.zeros((300, 150, 3), np.uint8), side=128)
    assert small.shape == (128, 64, 3) and scale == pytest.approx(128 / 300)
    heat = np.array([[0.0, 1.0], [1.0, 0.0]])
    over = figures.overlay(np.zeros((4, 4, 3), np.uint8), heat, alpha=1.0)
    assert over.shape == (4, 4, 3) and np.array_equal(over[0, 0], over[1, 1])
    assert not np.array_equal(over[0, 0], over[0, 2])
    assert figures.hstack([np.zeros((2, 2, 3), np.uint8)] * 3, gap=1).shape == (2, 8, 3)


def test_crop_figure_choice():
    center = np.array([[0, 0, 10, 10]] * 4, float)
    main = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 10]], float)
    assert box_coverage(center, main).tolist() == [1.0, 0.5, 0.0, 1.0]
    cover_c = np.array([0.5, 1.0, 0.2, 0.9])
    cover_g = np.array([1.0, 0.4, 0.2, 1.0])
    assert gain_and_loss_images(cover_c, cover_g, 3).tolist() == [0, 3, 1]
    assert gain_and_loss_images(cover_c, cover_g, 10).tolist() == [0, 3, 2, 1]  # all by gain


def test_bad_inputs_name_the_file(tmp_path, fake_run):
    bad = tmp_path / "neurons.json"
    bad.write_text(json.dumps({"concept_set": "world", "method": "m", "view": "v",
                               "neurons": [{"layer": "fc", "unit": 1}]}))
    with pytest.raises(ValueError, match=r"neurons\.json: neurons\[0\] lacks reason"):
        read_neurons(bad)
    table = tmp_path / "metrics" / "world" / "table1.csv"
    table.parent.mkdir(parents=True)
    pd.DataFrame({"method": ["a"]}).to_csv(table, index=False)
    from conceptlens.report.render import render_report

    with pytest.raises(ValueError, match=r"table1\.csv: missing column\(s\) layer"):
        render_report({"table1": [str(table)]}, settings(), tmp_path / "r.html",
                      tmp_path / "r.pdf")
    assert not (tmp_path / "r.html").exists()


def test_neuron_without_top_images_keeps_its_side_panel(fake_run):
    from conceptlens.report.render import render_html
    from conceptlens.report.sections import build_report

    inputs = {k: v for k, v in fake_run["inputs"].items() if k not in ("topk", "neuron_maps")}
    html = render_html({**build_report(inputs, settings()), "pdf": False})
    html = html.split('<section id="neurons"', 1)[1].split("</section>", 1)[0]
    assert html.count("no top images") == len(fake_run["doc"]["neurons"])
    assert html.count("Ground truth") == len(fake_run["doc"]["neurons"])


def test_ablation_and_stability_show_published_rows():
    frame = pd.DataFrame({
        "concept_set": "wordnet", "method": ["www", "gradcam_tvmf"], "layer": "fc",
        "gradcam": [False, True], "tvmf": [False, True], "hit_rate": [0.5, 0.6],
        "f1": [0.4, 0.45], "clip_cos": 0.8, "sentence_cos": 0.7})
    t = table_models.ablation(frame, {"wordnet": {"gradcam_tvmf": {"clip_cos": 89.49,
                                                                   "f1": 45.77}}})
    rows = [r for r in t.rows if r.cls != "group"]
    assert [r.cells[2].text for r in rows] == ["www", "gradcam_tvmf", "gradcam_tvmf (published)"]
    assert [c.text for c in rows[2].cells[:2]] == ["✓", "✓"]  # the method's components
    assert [c.text for c in rows[2].cells[3:]] == ["–", "45.8", "89.5", "–", "–", "–", "–"]
    assert rows[2].cls == "published" and any("published" in n for n in t.notes)

    stab = pd.DataFrame({"name": ["broden_10k_wpmi"] * 2, "layer": ["all", "layer1"],
                         "k=5->10": [97.5, 96.0], "k=5->16": [95.0, 94.0],
                         "jaccard 5->10": [0.9, 0.8], "neurons": [3840, 256]})
    t = table_models.stability(stab, {"broden_10k_wpmi": {"k=5->10": 99.869792,
                                                          "k=5->16": 100}})
    texts = [[c.text for c in r.cells] for r in t.rows]
    # the published row follows the pooled row, not the per-layer one
    assert texts[1] == ["broden_10k_wpmi (published)", "all", "99.87", "100.00", "–", "–"]
    assert texts[2][1] == "layer1" and t.rows[1].cls == "published"
    with pytest.raises(ValueError, match=r"published_stability\[broden_10k_wpmi\].*top-1"):
        table_models.stability(stab, {"broden_10k_wpmi": {"top-1 5->10": 1.0}})


def test_summary_names_the_target_and_probe_in_words():
    from conceptlens.report.sections.summary import describe_probe, describe_target

    world = {"run": "w", "target": {"source": "world", "path": None},
             "world_models": {"source": "shipped", "shipped_dir": "resources/world"}}
    assert describe_target(world) == ("world target: ResNet-18 shape classifier (shipped "
                                      "checkpoint resources/world/target.pt)")
    real = {"target": {"source": "torchvision", "name": "resnet50", "weights": "IMAGENET1K_V2",
                       "path": None, "input_size": 224, "class_names": "imagenet"},
            "probe": {"source": "imagenet", "path": "/data/val", "labels": None, "limit": None}}
    assert describe_target(real) == ("torchvision resnet50, weights IMAGENET1K_V2, input "
                                      "224 px, class names from imagenet")
    assert describe_probe(real, None) == "ImageNet val at /data/val"
    ckpt = {"target": {"source": "checkpoint", "architecture": "timm", "name": "vit_small",
                       "path": "m.pt", "weights": None}}
    assert describe_target(ckpt) == "timm vit_small from checkpoint m.pt"
    assert "None" not in describe_probe({"probe": {"source": "world"}, "world": {}}, None)


def test_view_shares_count_the_whole_main_object_and_any_part_of_a_distractor():
    from conceptlens.view_coverage import view_shares

    attributes = pd.DataFrame({
        "main_x0": [10, 10, 10], "main_y0": [10, 10, 10], "main_x1": [30, 30, 30],
        "main_y1": [30, 30, 30],
        "d1_x0": [40, 32, -1], "d1_y0": [40, 10, -1], "d1_x1": [50, 42, -1], "d1_y1": [50, 20, -1],
        "d2_x0": [-1, -1, -1], "d2_y0": [-1, -1, -1], "d2_x1": [-1, -1, -1], "d2_y1": [-1, -1, -1]})
    windows = np.array([[0, 0, 45, 45], [5, 5, 35, 35], [15, 15, 40, 40]])
    row = view_shares({"gradcam": windows}, attributes).iloc[0]
    # image 0: main whole, distractor a quarter inside; image 1: main whole, distractor
    # 3 of 10 px wide inside; image 2: main cut, no distractor
    assert row["main_whole"] == pytest.approx(2 / 3)
    assert row["distractor_any"] == 1.0  # both images with a distractor hold part of it
    assert row["distractor_area"] == pytest.approx((0.25 + 0.3) / 2)


def test_the_crops_section_tabulates_what_each_crop_holds(fake_run):
    html = (fake_run["out"] / "report.html").read_text()
    body = html.split('id="table-view_shares"', 1)[1].split("</table>", 1)[0]
    assert "Centre crop" in body and "Grad-CAM crop" in body and "Main object whole" in html


def test_table_markdown_prints_groups_as_tables_of_their_own():
    from conceptlens.report.markdown import table_markdown
    from conceptlens.report.table_models import Cell, Row, Table

    table = Table("t", "A caption.", ["Method", "Hit (%)"],
                  [Row([Cell("world · layer4")], cls="group"),
                   Row([Cell("www"), Cell("87.2", "± 1.5")]),
                   Row([Cell("a|b"), Cell("1.0")]),
                   Row([Cell("world · fc")], cls="group"),
                   Row([Cell("www"), Cell("100.0")])], ["l", "r"], ["A note."])
    assert table_markdown(table).splitlines() == [
        "*A caption.*", "", "**world · layer4**", "", "| Method | Hit (%) |", "| --- | --- |",
        "| www | 87.2 ± 1.5 |", "| a\\|b | 1.0 |", "", "**world · fc**", "",
        "| Method | Hit (%) |", "| --- | --- |", "| www | 100.0 |", "", "A note."]
