"""Quick checks of the world, probe and concept-set stages (conceptlens.stages) and of their
rule adapters (scripts/), each on a few tiny files."""

from __future__ import annotations

import ast
import hashlib
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conceptlens import concept_sets
from conceptlens.io.concepts import (
    read_class_synonyms,
    read_concept_set,
    read_hierarchy_tsv,
    write_class_names,
    write_concept_set,
    write_parent_links,
)
from conceptlens.io.descriptions import load_description_table, save_description_table
from conceptlens.io.probe import load_split_images, read_attributes, write_probe_index
from conceptlens.stages.concept_sets import (
    concept_set,
    download_concept_set,
    import_descriptions,
    wnid_class_names,
)
from conceptlens.stages.probe import probe_index
from conceptlens.stages.world import world_concepts, world_sample_grid, world_split
from conceptlens.world.generate import SplitSpec, render_images
from conceptlens.world.vocabulary import SHAPES

REPO = Path(__file__).resolve().parents[1]
ADAPTERS = ("world_split", "world_concepts", "world_sample_grid", "train_world_target",
            "train_world_clip", "world_models_quality", "probe_index",
            "concept_set", "download_concept_set", "wordnet_concepts", "wordnet_hierarchy",
            "wnid_class_names", "import_descriptions")


class Named(list):
    """A Snakemake ``input`` / ``output``: positional items and named ones."""

    def __init__(self, *items, **named):
        super().__init__(items)
        self.__dict__.update(named)


def run_adapter(name: str, tmp_path: Path, *, input=(), output=(), params=None,
                wildcards=None, **named_output):
    """Run scripts/<name>.py with a fake ``snakemake`` object, as the script directive."""
    smk = SimpleNamespace(input=Named(*input), output=Named(*output, **named_output),
                          params=params or SimpleNamespace(), wildcards=wildcards,
                          log=[str(tmp_path / f"{name}.log")], threads=1, rule=name)
    runpy.run_path(str(REPO / "scripts" / f"{name}.py"), init_globals={"snakemake": smk})
    return (tmp_path / f"{name}.log").read_text()


# ------------------------------------------------------------------------------ world

def test_world_concepts_write_a_set_and_hierarchy_that_io_reads_back(tmp_path):
    concepts, parents = world_concepts()
    write_concept_set(tmp_path / "world.txt", concepts)
    write_parent_links(tmp_path / "world_hierarchy.tsv", parents)
    assert read_concept_set(tmp_path / "world.txt") == concepts
    tree = read_hierarchy_tsv(tmp_path / "world_hierarchy.tsv")
    assert set(tree.nodes) == set(parents)
    roots = [c for c, p in parents.items() if p is None]
    assert len(tree.edges) == len(parents) - len(roots)
    assert set(SHAPES) <= set(concepts) & set(parents) and parents["circle"] == "shape"


def test_world_concepts_adapter_writes_what_the_stage_returns(tmp_path):
    log = run_adapter("world_concepts", tmp_path, concepts=str(tmp_path / "c/world.txt"),
                      hierarchy=str(tmp_path / "c/world_hierarchy.tsv"))
    concepts, parents = world_concepts()
    assert (tmp_path / "c/world.txt").read_text() == "\n".join(concepts) + "\n"
    lines = (tmp_path / "c/world_hierarchy.tsv").read_text().splitlines()
    assert lines[0] == "concept\tparent" and len(lines) == len(parents) + 1
    assert "world concepts" in log


def test_world_split_matches_the_renderer_and_feeds_the_sample_grid(tmp_path):
    out = world_split(tmp_path / "probe", seed=5, n_images=6, image_size=32,
                      central_distractor_probability=0.8)
    attributes = read_attributes(out)
    images, rows, _ = render_images(SplitSpec(seed=5, n_images=6, image_size=32), range(6))
    assert list(attributes["shape"]) == [r["shape"] for r in rows]
    assert np.array_equal(load_split_images(out, attributes), images)
    assert (out / "captions.parquet").is_file()
    world_sample_grid(out, tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").format == "PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_world_split_adapter_logs_its_progress(tmp_path):
    params = SimpleNamespace(seed=5, n_images=4, image_size=32,
                             central_distractor_probability=0.8)
    log = run_adapter("world_split", tmp_path, output=[str(tmp_path / "probe")], params=params)
    assert "world split (seed 5)" in log and "images/s" in log  # a progress line


# ------------------------------------------------------------------------------ probe

def test_probe_index_of_a_folder_round_trips_through_io(tmp_path):
    for i, size in enumerate([(8, 6), (5, 9)]):
        Image.new("RGB", size).save(tmp_path / f"img{i}.png")
    table, classes = probe_index({"source": "folder", "path": str(tmp_path)})
    assert classes == [] and table[["width", "height"]].values.tolist() == [[8, 6], [5, 9]]
    write_probe_index(tmp_path / "probe", table, classes)
    back = read_attributes(tmp_path / "probe")
    pd.testing.assert_frame_equal(back, table)
    assert not (tmp_path / "probe" / "classes.txt").exists()


# ------------------------------------------------------------------------ concept sets

def test_concept_set_keeps_brodens_first_duplicate_only(tmp_path):
    source = tmp_path / "broden_labels_clean.txt"
    source.write_text("sky\ntree\n\nsky\nroad\n")
    assert concept_set("broden", source) == ["sky", "tree", "road"]
    with pytest.raises(ValueError, match="duplicate concepts: sky"):
        concept_set("mine", source)


def test_concept_set_adapter_copies_a_set(tmp_path):
    source = tmp_path / "mine.txt"
    source.write_text("  a red ring \nstar\n")
    run_adapter("concept_set", tmp_path, input=[str(source)], output=[str(tmp_path / "o.txt")],
                wildcards=SimpleNamespace(concepts="mine"))
    assert (tmp_path / "o.txt").read_text() == "a red ring\nstar\n"


def test_download_concept_set_checks_the_sha256(tmp_path, monkeypatch):
    upstream = tmp_path / "tiny.txt"
    upstream.write_text("cat\ndog\n")
    sha = hashlib.sha256(upstream.read_bytes()).hexdigest()
    monkeypatch.setitem(concept_sets.BUILTIN_DOWNLOADS, "tiny",
                        concept_sets.ConceptDownload("tiny.txt", sha))
    dest = tmp_path / "downloads" / "tiny.txt"
    download_concept_set("tiny", upstream.as_uri(), dest)
    assert dest.read_bytes() == upstream.read_bytes()
    monkeypatch.setitem(concept_sets.BUILTIN_DOWNLOADS, "tiny",
                        concept_sets.ConceptDownload("tiny.txt", "0" * 64))
    with pytest.raises(concept_sets.ConceptSetError, match="sha256"):
        download_concept_set("tiny", upstream.as_uri(), tmp_path / "bad.txt")
    assert not (tmp_path / "bad.txt").exists()


class FakeWordNet:
    """synset_from_pos_and_offset of two ImageNet wnids."""

    LEMMAS = {1440764: ["tench", "Tinca_tinca"], 1443537: ["goldfish", "Carassius_auratus"]}

    def synset_from_pos_and_offset(self, pos, offset):
        names = self.LEMMAS.get(offset)
        return None if names is None else SimpleNamespace(lemma_names=lambda: names)


def test_wnid_class_names_of_a_split_with_classes(tmp_path):
    split = tmp_path / "probe"
    table = pd.DataFrame({"image_id": [0], "file": ["x.png"], "label": [1]})
    write_probe_index(split, table, ["n01440764", "n01443537"])
    lines = wnid_class_names(split, reader=FakeWordNet())
    assert lines == ["tench, Tinca tinca", "goldfish, Carassius auratus"]
    write_class_names(tmp_path / "class_synonyms.txt", lines)
    assert read_class_synonyms(tmp_path / "class_synonyms.txt")[1] == ["goldfish",
                                                                        "Carassius auratus"]
    write_probe_index(tmp_path / "world", table)
    with pytest.raises(FileNotFoundError, match="no wnid class list"):
        wnid_class_names(tmp_path / "world", reader=FakeWordNet())


def test_import_descriptions_round_trips_as_a_descriptions_table(tmp_path):
    source = tmp_path / "netdissect.csv"
    pd.DataFrame({"unit": [1, 2], "label": ["sky", "grass"]}).to_csv(source, index=False)
    table = import_descriptions(source, {"layer": "layer4", "description_column": "label",
                                         "unit_base": 1})
    save_description_table(table, tmp_path / "imported.parquet")
    back = load_description_table(tmp_path / "imported.parquet")
    assert back["unit"].tolist() == [0, 1] and back["concept"].tolist() == ["sky", "grass"]
    assert set(back["layer"]) == {"layer4"}


# ---------------------------------------------------------------------------- adapters

@pytest.mark.parametrize("name", ADAPTERS)
def test_adapters_are_short_and_their_imports_resolve(name):
    text = (REPO / "scripts" / f"{name}.py").read_text()
    assert len(text.splitlines()) <= 15 and "noqa: F821" not in text
    tree = ast.parse(text)
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    exec(compile(ast.Module(body=imports, type_ignores=[]), name, "exec"), {})
