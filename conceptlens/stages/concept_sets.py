"""Stages of concept sets and their companions: configured or downloaded sets copied into
the run, the WordNet set and hierarchy, ImageNet class names and imported descriptions."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conceptlens.io.atomic import PathLike
from conceptlens.io.concepts import read_concept_set

if TYPE_CHECKING:
    import pandas as pd

    from conceptlens.hierarchy import Hierarchy

LOG = logging.getLogger("conceptlens.stages.concept_sets")


def concept_set(name: str, source: PathLike, log: logging.Logger = LOG) -> list[str]:
    """A concept file (configured, downloaded or derived), checked: sets whose upstream file
    repeats concepts (Broden) keep each one's first line, others must not repeat any."""
    from conceptlens.concept_sets import DUPLICATES_ALLOWED

    concepts = read_concept_set(source, keep_first_of_duplicates=name in DUPLICATES_ALLOWED)
    log.info("%s: %d concepts from %s", name, len(concepts), source)
    return concepts


def download_concept_set(name: str, url: str, dest: PathLike, log: logging.Logger = LOG
                         ) -> Path:
    """Download built-in concept set ``name`` from ``url`` (upstream or the configured
    mirror) to ``dest``, which appears only once its sha256 matches (a download streams to
    its destination, so this stage writes it)."""
    from conceptlens.concept_sets import BUILTIN_DOWNLOADS, download_checked

    sha256 = BUILTIN_DOWNLOADS[name].sha256
    out = download_checked(url, dest, sha256)
    log.info("%s: %s -> %s (sha256 %s)", name, url, out, sha256)
    return out


def world_plus_concepts(name: str, world: PathLike, nouns: PathLike,
                        log: logging.Logger = LOG) -> list[str]:
    """A world set with WordNet nouns (``world_1k``, ``world_wordnet``:
    :func:`conceptlens.concept_sets.world_plus_nouns`) from the world's concept file and
    the WordNet nouns file."""
    from conceptlens.concept_sets import WORLD_PLUS_SETS, world_plus_nouns

    concepts = world_plus_nouns(read_concept_set(world), read_concept_set(nouns),
                                WORLD_PLUS_SETS[name])
    log.info("%s: %d concepts (the world's and WordNet nouns)", name, len(concepts))
    return concepts


def wordnet_concepts(log: logging.Logger = LOG) -> list[str]:
    """The WordNet concept set: the first lemma of every noun synset of WordNet 3.0."""
    from conceptlens.concept_sets import wordnet_nouns

    nouns = wordnet_nouns()
    log.info("%d distinct first lemmas of WordNet 3.0 noun synsets", len(nouns))
    return nouns


def wordnet_hierarchy(root: str, log: logging.Logger = LOG) -> Hierarchy:
    """The WordNet noun subtree under synset ``root``."""
    from conceptlens.hierarchy import wordnet_hierarchy as subtree_of

    hierarchy = subtree_of(root)
    log.info("%d synsets under %s", len(hierarchy.nodes), root)
    return hierarchy


def wnid_class_names(split_dir: PathLike, log: logging.Logger = LOG, reader=None) -> list[str]:
    """One class-names line per class of an ImageNet probe split, the WordNet lemmas of its
    wnid (``"tench, Tinca tinca"``), in label order (fc unit i <-> line i).  ``reader``: an
    NLTK WordNet reader (default: :func:`conceptlens.concept_sets.default_wordnet_reader`)."""
    from conceptlens.concept_sets import imagenet_synonyms
    from conceptlens.io.probe import read_classes

    lines = imagenet_synonyms(read_classes(split_dir), reader=reader)
    log.info("%d classes named from WordNet (first: %s)", len(lines), lines[0])
    return lines


def import_descriptions(source: PathLike, settings: Mapping, log: logging.Logger = LOG,
                        name: str | None = None, target_summary: PathLike | None = None,
                        target_layers: Sequence[str] = ()) -> pd.DataFrame:
    """Another tool's descriptions (a CSV) as a descriptions table; ``settings``: the
    ``imported.<name>`` config entry (``layer``, ``unit_column``, ``description_column``,
    ``unit_base``).  With the run's ``activations/target.json`` (``target_summary``) and
    the target's module names (``target_layers``), its layers and units are checked
    against the target (:func:`conceptlens.imported.check_imported_units`)."""
    from conceptlens.imported import check_imported_units, read_imported

    key = f"imported.{name}.path" if name else None
    unit_base = settings.get("unit_base", 0)
    table = read_imported(source, settings.get("layer"), settings.get("unit_column", "unit"),
                          settings.get("description_column", "description"), unit_base, key)
    if target_summary is not None:
        from conceptlens.io.activations import load_target_summary

        widths = load_target_summary(target_summary)["widths"]
        for note in check_imported_units(table, widths, target_layers, source, key, unit_base):
            log.warning("%s", note)
    log.info("%d descriptions of layers %s", len(table), sorted(table["layer"].unique()))
    return table
