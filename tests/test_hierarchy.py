"""Concept hierarchies: subtrees in trees and DAGs, lookup, node texts, files, WordNet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conceptlens.hierarchy import (
    DEFAULT_WORDNET_DIR,
    children_lists,
    concept_subtree_masks,
    make_hierarchy,
    node_texts,
    resolve,
    subtree,
    subtree_masks,
    wordnet_hierarchy,
)
from conceptlens.io.concepts import read_hierarchy_tsv, write_hierarchy_tsv

# root -> animal, pet; animal -> dog, cat; pet -> dog (dog has two parents); dog -> puppy
LINKS = [("root", None), ("animal", "root"), ("pet", "root"), ("dog", "animal"),
         ("cat", "animal"), ("dog", "pet"), ("puppy", "dog")]


@pytest.fixture()
def tree():
    return make_hierarchy(LINKS, lemmas={"dog": ("dog", "domestic_dog")},
                          definitions={n: f"definition of {n}" for n, _ in LINKS})


def names(h, idx) -> list[str]:
    return sorted(h.nodes[i] for i in idx)


def test_nodes_in_first_appearance_order_and_children(tree):
    assert tree.nodes == ("root", "animal", "pet", "dog", "cat", "puppy")
    kids = children_lists(tree)
    assert [[tree.nodes[c] for c in k] for k in kids] == [
        ["animal", "pet"], ["dog", "cat"], ["dog"], ["puppy"], [], []]


def test_subtrees_of_tree_and_dag_nodes(tree):
    assert names(tree, subtree(tree, "animal")) == ["animal", "cat", "dog", "puppy"]
    assert names(tree, subtree(tree, "pet")) == ["dog", "pet", "puppy"]
    assert names(tree, subtree(tree, "cat")) == ["cat"]
    everything = subtree(tree, "root")
    assert len(everything) == len(tree) and len(set(everything.tolist())) == len(tree)


def test_subtree_masks_batched_and_unions(tree):
    i = tree.index
    masks = subtree_masks(tree, [i("pet"), [i("cat"), i("puppy")], i("root")])
    assert masks.shape == (3, 6) and masks.dtype == bool
    assert names(tree, np.flatnonzero(masks[0])) == ["dog", "pet", "puppy"]
    assert names(tree, np.flatnonzero(masks[1])) == ["cat", "puppy"]
    assert masks[2].all()


def test_cycles_terminate():
    h = make_hierarchy([("a", None), ("b", "a"), ("c", "b"), ("b", "c")])
    assert names(h, subtree(h, "b")) == ["b", "c"]
    assert names(h, subtree(h, "a")) == ["a", "b", "c"]


def test_bad_links_are_clear_errors():
    with pytest.raises(ValueError, match="parent 'ghost' of 'a'"):
        make_hierarchy([("a", "ghost")])
    with pytest.raises(ValueError, match="own parent"):
        make_hierarchy([("a", None), ("a", "a")])


def test_resolve_ids_lemmas_senses_and_close_matches():
    h = make_hierarchy([("entity.n.01", None), ("dog.n.03", "entity.n.01"),
                        ("frank.n.02", "entity.n.01"), ("dog.n.01", "entity.n.01")],
                       lemmas={"dog.n.03": ("dog",), "frank.n.02": ("frank", "hotdog", "dog"),
                               "dog.n.01": ("dog", "domestic_dog")})
    assert resolve(h, "dog.n.03") == [1]
    assert resolve(h, "dog") == [3]  # lowest sense number of the head word wins
    assert resolve(h, "Domestic dog") == [3]
    assert resolve(h, "dog", senses="all") == [1, 2, 3]
    assert resolve(h, "hotdog") == [2]
    with pytest.raises(ValueError, match="close matches: .*dog"):
        resolve(h, "dgo")


def test_concept_subtree_masks_reports_missing(tree):
    masks, missing = concept_subtree_masks(tree, ["pet", "unicorn", "domestic dog"])
    assert missing == ["unicorn"]
    assert names(tree, np.flatnonzero(masks[0])) == ["dog", "pet", "puppy"]
    assert names(tree, np.flatnonzero(masks[1])) == ["dog", "puppy"]


def test_node_texts(tree):
    texts, owner = node_texts(tree, "lemma", "A photo of a {}")
    assert texts[3:5] == ["A photo of a dog", "A photo of a domestic dog"]
    assert owner.tolist() == [0, 1, 2, 3, 3, 4, 5]
    texts, owner = node_texts(tree, "definition")
    assert texts[0] == "definition of root" and owner.tolist() == list(range(6))
    with pytest.raises(ValueError, match="'definition' column"):
        node_texts(make_hierarchy(LINKS), "definition")
    with pytest.raises(ValueError, match="node_text"):
        node_texts(tree, "gloss")


def test_tsv_round_trip_keeps_dag_lemmas_and_definitions(tree, tmp_path: Path):
    path = tmp_path / "h.tsv"
    write_hierarchy_tsv(path, tree)
    back = read_hierarchy_tsv(path)
    assert back.nodes == tree.nodes
    assert np.array_equal(back.edges, tree.edges)
    assert back.lemmas[tree.index("dog")] == ("dog", "domestic_dog")
    assert back.definitions == tree.definitions
    assert path.read_text().count("\ndog\t") == 2  # one row per parent


def test_world_style_tsv_without_optional_columns(tmp_path: Path):
    path = tmp_path / "w.tsv"
    path.write_text("concept\tparent\nobject\t\nshape\tobject\nstar\tshape\n")
    h = read_hierarchy_tsv(path)
    assert h.definitions is None and h.lemmas[2] == ("star",)
    assert names(h, subtree(h, "shape")) == ["shape", "star"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tparent\nobject\t\n")
    with pytest.raises(ValueError, match=r"bad.tsv: missing column 'concept'"):
        read_hierarchy_tsv(bad)


@pytest.mark.skipif(not (Path(DEFAULT_WORDNET_DIR) / "data.noun").is_file(),
                    reason="Debian package wordnet-base is not installed")
def test_wordnet_subtree_from_debian_files():
    h = wordnet_hierarchy("canine.n.02")
    assert h.nodes[0] == "canine.n.02"
    dog = resolve(h, "dog")
    assert [h.nodes[i] for i in dog] == ["dog.n.01"]
    assert "domesticated" in h.definitions[dog[0]]
    puppies = subtree(h, "dog.n.01")
    assert "puppy.n.01" in {h.nodes[i] for i in puppies}
    assert "wolf.n.01" not in {h.nodes[i] for i in puppies}
    assert len(set(h.nodes)) == len(h)
    with pytest.raises(ValueError, match="unknown WordNet synset"):
        wordnet_hierarchy("no_such.n.01")
