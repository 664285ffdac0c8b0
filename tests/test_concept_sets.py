"""Built-in concept sets: sha256-checked downloads (over a loopback HTTP server), the
WordNet nouns set, ImageNet class synonyms from wnids, and the workflow rules that use them."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pandas as pd
import pytest
import yaml

from conceptlens.concept_sets import (
    BUILTIN_DOWNLOADS,
    ConceptSetError,
    download_concept_set,
    download_url,
    imagenet_synonyms,
    sha256_of,
    wordnet_nouns,
)
from conceptlens.config import ConfigError, check_config, load_config
from conceptlens.io.concepts import read_class_synonyms
from conceptlens.offline import missing_requirements
from tests.conftest import REPO, SHARED, run_snakemake

SHARED_SETS = SHARED / "concept_sets"
needs_shared = pytest.mark.skipif(not SHARED_SETS.is_dir(),
                                  reason=f"needs {SHARED_SETS} (the project's reference data)")


@pytest.fixture
def http_folder(tmp_path):
    """(folder, base URL) of a threaded HTTP server on 127.0.0.1 serving ``folder``."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@needs_shared
def test_registered_hashes_are_those_of_the_reference_files():
    for name, entry in BUILTIN_DOWNLOADS.items():
        assert sha256_of(SHARED_SETS / entry.file) == entry.sha256, name
    assert download_url("10k") == ("https://raw.githubusercontent.com/Trustworthy-ML-Lab/"
                                   "CLIP-dissect/main/data/10k.txt")
    assert download_url("broden", "file:///m/") == "file:///m/broden_labels_clean.txt"


@needs_shared
def test_download_over_http_checks_the_sha256(http_folder, tmp_path):
    folder, base = http_folder
    shutil.copy(SHARED_SETS / "3k.txt", folder / "3k.txt")
    dest = download_concept_set("3k", tmp_path / "out" / "3k.txt", mirror=base)
    assert dest.read_bytes() == (SHARED_SETS / "3k.txt").read_bytes()


@needs_shared
def test_a_corrupted_download_names_the_url_and_leaves_nothing(http_folder, tmp_path):
    folder, base = http_folder
    (folder / "3k.txt").write_bytes((SHARED_SETS / "3k.txt").read_bytes() + b"extra\n")
    out = tmp_path / "out"
    with pytest.raises(ConceptSetError, match=rf"{base}/3k.txt: sha256 .* does not match"):
        download_concept_set("3k", out / "3k.txt", mirror=base)
    assert list(out.iterdir()) == []  # neither the file nor a temporary one


def test_an_unreachable_download_names_the_url(tmp_path, http_folder):
    _, base = http_folder
    with pytest.raises(ConceptSetError, match=rf"cannot download {base}/10k.txt"):
        download_concept_set("10k", tmp_path / "10k.txt", mirror=base)  # 404
    with pytest.raises(ConceptSetError, match="no download for concept set 'nope'"):
        download_concept_set("nope", tmp_path / "x.txt")
    assert not (tmp_path / "10k.txt").exists()


def test_wordnet_nouns_are_the_distinct_first_lemmas_of_the_noun_synsets():
    nouns = wordnet_nouns()
    # WordNet 3.0: 82,115 noun synsets whose first lemmas give 67,893 distinct names
    assert 67_000 <= len(nouns) <= 69_000
    assert len(set(nouns)) == len(nouns)
    assert nouns[:3] == ["entity", "physical entity", "abstraction"]
    assert not any("_" in n for n in nouns)
    assert {"tench", "great white shark", "dog", "car"} <= set(nouns)


@needs_shared
def test_imagenet_synonyms_from_wnids_match_the_imagenet_labels_file():
    wnids = ["n01440764", "n01443537", "n01484850", "n01491361"]
    expected = (SHARED_SETS / "imagenet_labels.txt").read_text().splitlines()[:4]
    assert imagenet_synonyms(wnids) == expected
    with pytest.raises(ConceptSetError, match="'x123' is not a WordNet noun id"):
        imagenet_synonyms(["x123"])
    with pytest.raises(ConceptSetError, match="n99999999: no such noun synset"):
        imagenet_synonyms(["n99999999"])


def test_class_synonyms_keep_repeated_lines_and_reject_blank_ones(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("crane\ntench, Tinca tinca\ncrane\n")
    assert read_class_synonyms(path) == [["crane"], ["tench", "Tinca tinca"], ["crane"]]
    path.write_text("crane\n\ncrane\n")
    with pytest.raises(ValueError, match="blank line 2"):
        read_class_synonyms(path)


def test_config_rejects_null_sets_the_workflow_cannot_build():
    config = load_config(REPO / "config.yaml")
    config["concept_sets"] = {"world": None, "mine": None}
    with pytest.raises(ConfigError, match=r"concept_sets.mine: null names a set the workflow"):
        check_config(config)
    config = load_config(REPO / "config.yaml")
    config["target"]["class_names"] = "wnids"
    with pytest.raises(ConfigError, match="target.class_names: 'wnids'.*probe.source: imagenet"):
        check_config(config)


@needs_shared
def test_offline_check_accepts_a_reachable_mirror_and_names_a_missing_one(tmp_path):
    config = load_config(REPO / "configs" / "broden-clipdissect.yaml")
    config["concept_downloads"] = {"mirror": SHARED_SETS.as_uri()}
    text = "\n".join(m.line() for m in missing_requirements(config))
    assert "concept_sets.imagenet" not in text and "concept_sets.10k" not in text
    config["concept_downloads"] = {"mirror": (tmp_path / "none").as_uri()}
    text = "\n".join(m.line() for m in missing_requirements(config))
    assert "concept set 10k" in text and "concept_downloads.mirror" in text


@pytest.mark.slow
@needs_shared
def test_workflow_downloads_derives_and_copies_the_concept_sets(http_folder, tmp_path):
    """The download, WordNet and wnid rules of the ImageNet preset, on a loopback mirror."""
    folder, base = http_folder
    for name in ("imagenet", "broden"):
        shutil.copy(SHARED_SETS / BUILTIN_DOWNLOADS[name].file, folder)
    val = tmp_path / "val"
    for wnid in ("n01443537", "n01440764"):
        (val / wnid).mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (40, 30), "red").save(val / wnid / "ILSVRC2012_val_00000001.JPEG")
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", "results", ".snakemake", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
        "resources"))
    overlay = {"base": "configs/imagenet-resnet50.yaml", "run": "sets",
               "target": {"weights": None, "class_names": "wnids"},
               "probe": {"path": str(val)},
               "clip_models": {"vitb32": {"pretrained": None}, "vitb16": {"pretrained": None}},
               "metrics": {"sentence_model": "all-MiniLM-L6-v2"},
               "concept_downloads": {"mirror": base}}
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    run_snakemake("--cores", "1", "--configfile", "overlay.yaml", "--",
                  *(f"results/sets/concepts/{n}.txt" for n in ("imagenet", "broden", "wordnet")),
                  "results/sets/derived/class_synonyms.txt", cwd=work)
    out = work / "results" / "sets"
    lines = {n: (out / "concepts" / f"{n}.txt").read_text().splitlines()
             for n in ("imagenet", "broden", "wordnet")}
    assert len(lines["imagenet"]) == 1000 and lines["imagenet"][0] == "tench, Tinca tinca"
    assert len(lines["broden"]) == 1153  # 1,197 upstream lines, first of each duplicate kept
    assert len(set(lines["broden"])) == 1153
    assert lines["wordnet"][:2] == ["entity", "physical entity"] and len(lines["wordnet"]) > 67_000
    downloaded = work / "results" / "downloads" / "concept_sets" / "broden.txt"
    assert sha256_of(downloaded) == BUILTIN_DOWNLOADS["broden"].sha256
    # sorted wnid folders: class 0 = n01440764 (tench), class 1 = n01443537 (goldfish)
    assert (out / "derived" / "class_synonyms.txt").read_text().splitlines() == [
        "tench, Tinca tinca", "goldfish, Carassius auratus"]
    index = pd.read_parquet(out / "probe" / "attributes.parquet")
    assert (out / "probe" / "classes.txt").read_text().split() == ["n01440764", "n01443537"]
    assert sorted(index["label"]) == [0, 1]


def test_the_world_sets_of_three_sizes_extend_the_world_vocabulary():
    from conceptlens.concept_sets import wordnet_nouns, world_plus_nouns
    from conceptlens.world.vocabulary import world_concepts

    world, nouns = world_concepts(), wordnet_nouns()
    medium = world_plus_nouns(world, nouns, 1000)
    large = world_plus_nouns(world, nouns)
    assert medium[:len(world)] == world and large[:len(world)] == world
    assert len(medium) == len(world) + 1000 and len(set(c.lower() for c in large)) == len(large)
    assert len(large) > 60_000 and set(medium) <= set(large)
    assert not {"circle", "red"} & {c.lower() for c in medium[len(world):]}  # no repeats
    # the sample is the sha256 order, not a random generator's: the same everywhere, and
    # the same nouns (up to case) whatever their order
    import hashlib

    added = medium[len(world):]
    assert added == sorted(added, key=lambda c: hashlib.sha256(c.lower().encode()).hexdigest())
    shuffled = world_plus_nouns(world, list(reversed(nouns)), 1000)
    assert [c.lower() for c in shuffled] == [c.lower() for c in medium]


def test_an_overlay_leaves_out_a_base_concept_set_with_false(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"base": str(REPO / "config.yaml"), "concept_sets": {
        "world": None, "world_1k": None, "world_wordnet": None}}))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"base": str(base), "run": "x",
                                       "concept_sets": {"world_1k": False}}))
    assert set(load_config(base)["concept_sets"]) == {"world", "world_1k", "world_wordnet"}
    assert set(load_config(overlay)["concept_sets"]) == {"world", "world_wordnet"}


def test_the_workflow_derives_the_world_sets_from_its_vocabulary_and_wordnet(tmp_path):
    from tests.conftest import dry_run_jobs

    overlay = tmp_path / "sets.yaml"
    overlay.write_text(yaml.safe_dump({"base": "config.yaml", "concept_sets": {
        "world": None, "world_1k": None, "world_wordnet": None}}))
    proc = run_snakemake("-n", "--forceall", "--configfile", str(overlay))
    jobs = dry_run_jobs(proc.stdout)
    assert jobs["world_plus_concepts"] == 2 and jobs["wordnet_concepts"] == 1
    assert jobs["concept_set"] == 2 and jobs["metrics"] == 3
    assert "results/world/derived/world_1k.txt" in proc.stdout
