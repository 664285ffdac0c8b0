"""Concept hierarchies for ConVis: nodes, parent links, subtrees and node texts.

A hierarchy file is a TSV with columns ``concept`` (the node id) and ``parent`` (empty for a
root), one row per parent link, so a node with two parents (a DAG, as in WordNet) has two
rows.  Optional columns: ``definition`` (a gloss) and ``lemmas`` (``|``-joined names; the
node id is the lemma when absent).  Node ids are the world's names or WordNet synset names
(``dog.n.01``); :func:`resolve` maps a concept name such as ``dog`` to node(s).
Hierarchy files are read and written by :mod:`conceptlens.io.concepts`.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

NODE_TEXTS = ("lemma", "definition")
DEFAULT_WORDNET_DIR = "/usr/share/wordnet"


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A concept DAG: ``nodes`` (N,) ids, ``edges`` (E, 2) int (parent, child) node indices,
    ``lemmas`` per node, ``definitions`` per node (None when the file has none)."""

    nodes: tuple[str, ...]
    edges: np.ndarray
    lemmas: tuple[tuple[str, ...], ...]
    definitions: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def index(self, node: str) -> int:
        """Index of node id ``node``; unknown ids are a ValueError listing close matches."""
        try:
            return self._positions()[node]
        except KeyError:
            raise ValueError(unknown_message(node, self)) from None

    def _positions(self) -> dict[str, int]:
        cache = self.__dict__.get("_pos")
        if cache is None:
            cache = {n: i for i, n in enumerate(self.nodes)}
            object.__setattr__(self, "_pos", cache)
        return cache


def make_hierarchy(parents: Sequence[tuple[str, str | None]], lemmas: dict[str, Sequence[str]] | None = None,
                   definitions: dict[str, str] | None = None, source: str = "hierarchy") -> Hierarchy:
    """Build a hierarchy from (child, parent or None) links, in order of first appearance.

    A parent that never appears as a child is a root.  Duplicate links are dropped.
    """
    order: dict[str, int] = {}
    for child, parent in parents:
        if not isinstance(child, str) or not child.strip():
            raise ValueError(f"{source}: empty concept name in a row with parent {parent!r}")
        order.setdefault(child, len(order))
    for child, parent in parents:
        if parent and parent not in order:
            raise ValueError(f"{source}: parent {parent!r} of {child!r} is not a concept of the "
                             "hierarchy (every node needs its own row; roots have an empty parent)")
    links = sorted({(order[p], order[c]) for c, p in parents if p})
    if any(p == c for p, c in links):
        bad = next(c for c, p in parents if p == c)
        raise ValueError(f"{source}: concept {bad!r} is its own parent")
    nodes = tuple(order)
    lemma_t = tuple(tuple(lemmas.get(n) or (n,)) if lemmas else (n,) for n in nodes)
    defs = None if definitions is None else tuple(definitions.get(n, "") for n in nodes)
    edges = np.asarray(links, dtype=np.int64).reshape(-1, 2)
    return Hierarchy(nodes=nodes, edges=edges, lemmas=lemma_t, definitions=defs)


def children_lists(hierarchy: Hierarchy) -> list[list[int]]:
    """For each node, the indices of its children (sorted)."""
    out: list[list[int]] = [[] for _ in hierarchy.nodes]
    for p, c in hierarchy.edges:
        out[p].append(int(c))
    return out


def _child_matrix(hierarchy: Hierarchy) -> sparse.csr_matrix:
    n = len(hierarchy)
    data = np.ones(len(hierarchy.edges), dtype=np.float32)
    return sparse.csr_matrix((data, (hierarchy.edges[:, 0], hierarchy.edges[:, 1])), shape=(n, n))


def subtree_masks(hierarchy: Hierarchy, roots: Sequence[Sequence[int]] | Sequence[int]) -> np.ndarray:
    """Boolean (C, N) masks: row c marks ``roots[c]`` (a node index or a list of them) and all
    their descendants.

    All rows grow together, one hierarchy level per sparse product, until no row gains a
    node; nodes reachable along several paths (DAGs) are marked once and cycles end.
    """
    n = len(hierarchy)
    groups = [[r] if np.isscalar(r) else list(r) for r in roots]
    mask = np.zeros((len(groups), n), dtype=bool)
    for c, group in enumerate(groups):
        idx = np.asarray(group, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"node index out of range 0..{n - 1}: {group}")
        mask[c, idx] = True
    if not len(groups):
        return mask
    step = _child_matrix(hierarchy).T.tocsr()  # (N, N): child <- parent
    frontier = mask.copy()
    while frontier.any():
        reached = np.asarray(step @ frontier.T.astype(np.float32)).T > 0  # (C, N)
        frontier = reached & ~mask
        mask |= frontier
    return mask


def subtree(hierarchy: Hierarchy, node: str | int) -> np.ndarray:
    """Sorted indices of ``node`` (id or index) and all its descendants."""
    i = hierarchy.index(node) if isinstance(node, str) else int(node)
    return np.flatnonzero(subtree_masks(hierarchy, [i])[0])


def _norm(name: str) -> str:
    return name.replace("_", " ").strip().lower()


def unknown_message(name: str, hierarchy: Hierarchy) -> str:
    candidates = {_norm(n): n for n in hierarchy.nodes}
    for lem in hierarchy.lemmas:
        for x in lem:
            candidates.setdefault(_norm(x), x)
    close = difflib.get_close_matches(_norm(name), list(candidates), n=5, cutoff=0.6)
    hint = ", ".join(candidates[c] for c in close) if close else "none"
    return f"concept {name!r} is not a node of the hierarchy ({len(hierarchy)} nodes); close matches: {hint}"


_SENSE = re.compile(r"^(?P<head>.+)\.[a-z]\.(?P<num>\d+)$")


def resolve(hierarchy: Hierarchy, name: str, senses: str = "first") -> list[int]:
    """Node indices a concept ``name`` stands for.

    A node id equal to ``name`` wins.  Otherwise the nodes with ``name`` among their lemmas
    (case and ``_``/space insensitive): ``senses="all"`` returns all of them (file order),
    ``"first"`` one: the WordNet-style id ``name.x.NN`` with the lowest NN, else the first
    in file order.  Unknown names are a ValueError listing close matches.
    """
    if senses not in ("first", "all"):
        raise ValueError(f"senses must be 'first' or 'all', got {senses!r}")
    positions = hierarchy._positions()
    if name in positions:
        return [positions[name]]
    key = _norm(name)
    matches = [i for i, lem in enumerate(hierarchy.lemmas) if any(_norm(x) == key for x in lem)]
    matches = matches or [i for i, n in enumerate(hierarchy.nodes) if _norm(n) == key]
    if not matches:
        raise ValueError(unknown_message(name, hierarchy))
    if senses == "all" or len(matches) == 1:
        return matches

    def sense_key(i: int) -> tuple[int, int]:
        m = _SENSE.match(hierarchy.nodes[i])
        if m and _norm(m.group("head")) == key:
            return (0, int(m.group("num")))
        return (1, 0)

    return [min(matches, key=lambda i: (sense_key(i), i))]


def concept_subtree_masks(hierarchy: Hierarchy, concepts: Sequence[str], senses: str = "first"
                          ) -> tuple[np.ndarray, list[str]]:
    """(C', N) subtree masks of the ``concepts`` that resolve, and the list of those that do
    not (left out, in order)."""
    roots, missing = [], []
    for concept in concepts:
        try:
            roots.append(resolve(hierarchy, concept, senses))
        except ValueError:
            missing.append(concept)
    return subtree_masks(hierarchy, roots), missing


def node_texts(hierarchy: Hierarchy, node_text: str = "lemma", template: str = "A photo of a {}"
               ) -> tuple[list[str], np.ndarray]:
    """Texts to embed for the nodes and the node each text belongs to, (T,) int.

    ``lemma``: each lemma (underscores -> spaces) put into ``template``; a node's embedding
    is then the mean of its lemmas'.  ``definition``: the node's gloss, one text per node.
    """
    if node_text == "lemma":
        texts, owner = [], []
        for i, lem in enumerate(hierarchy.lemmas):
            for x in lem:
                texts.append(template.replace("{}", x.replace("_", " ")))
                owner.append(i)
        return texts, np.asarray(owner, dtype=np.int64)
    if node_text == "definition":
        if hierarchy.definitions is None:
            raise ValueError("node_text='definition' needs a 'definition' column in the hierarchy "
                             "file; this one has none (use node_text='lemma')")
        empty = [n for n, d in zip(hierarchy.nodes, hierarchy.definitions) if not d]
        if empty:
            raise ValueError(f"node_text='definition': {len(empty)} nodes have an empty definition, "
                             f"e.g. {empty[:5]}")
        return list(hierarchy.definitions), np.arange(len(hierarchy), dtype=np.int64)
    raise ValueError(f"node_text must be one of {NODE_TEXTS}, got {node_text!r}")


# ---------------------------------------------------------------------------- WordNet

_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl").split()
_POS_CODE = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def wordnet_reader(wordnet_dir: str | os.PathLike = DEFAULT_WORDNET_DIR):
    """NLTK's ``WordNetCorpusReader`` on a WordNet 3.0 dict directory such as Debian's
    ``/usr/share/wordnet`` (package wordnet-base), which lacks the ``lexnames`` file NLTK
    reads: the standard 45 lexicographer file names are supplied in memory."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = str(Path(wordnet_dir).resolve())
    if not (Path(root) / "data.noun").is_file():
        raise FileNotFoundError(f"no WordNet dict files (data.noun) in {root}; install Debian's "
                                "wordnet-base or give the directory of a WordNet 3.0 dict")
    if root not in nltk.data.path:
        nltk.data.path.append(root)  # NLTK only opens files under its data roots
    lexnames = "".join(f"{i:02d}\t{n}\t{_POS_CODE[n.split('.')[0]]}\n" for i, n in enumerate(_LEXNAMES))

    class _Reader(WordNetCorpusReader):
        def open(self, file):  # noqa: A003 - NLTK's name
            if file == "lexnames" and not (Path(root) / "lexnames").is_file():
                return io.StringIO(lexnames)
            return super().open(file)

        def map_wn(self, version="wordnet"):  # no mapping between WordNet versions needed
            return None

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "multilingual functions not available"
        return _Reader(root, None)


def wordnet_hierarchy(root: str = "entity.n.01", wordnet_dir: str | os.PathLike = DEFAULT_WORDNET_DIR,
                      reader=None) -> Hierarchy:
    """The subtree of WordNet under synset ``root`` (hyponyms and instance hyponyms),
    breadth first, with each synset's lemma names and definition."""
    wn = reader or wordnet_reader(wordnet_dir)
    try:
        start = wn.synset(root)
    except Exception as err:  # nltk raises WordNetError / ValueError for bad names
        raise ValueError(f"unknown WordNet synset {root!r} (expected e.g. 'entity.n.01'): {err}") from err
    links: list[tuple[str, str | None]] = [(start.name(), None)]
    lemmas = {start.name(): tuple(start.lemma_names())}
    definitions = {start.name(): start.definition()}
    queue, head = [start], 0
    while head < len(queue):
        synset = queue[head]
        head += 1
        for child in sorted(synset.hyponyms() + synset.instance_hyponyms(), key=lambda s: s.name()):
            links.append((child.name(), synset.name()))
            if child.name() not in lemmas:
                lemmas[child.name()] = tuple(child.lemma_names())
                definitions[child.name()] = child.definition()
                queue.append(child)
    return make_hierarchy(links, lemmas, definitions, source=f"WordNet under {root}")
