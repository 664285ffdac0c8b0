"""Concept sets, class-names files and concept hierarchies.

- ``concepts/<name>.txt``: one concept a line, no duplicates;
- class-names files (``target.class_names``, ``derived/class_synonyms.txt``): line i names
  class i by its synonyms, comma+space separated (``tench, Tinca tinca``);
- ``concepts/<name>_hierarchy.tsv``: ``concept, parent`` (empty for a root) and, when
  known, ``lemmas`` (``|``-separated) and ``definition``; one row per parent link.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conceptlens.io.atomic import PathLike, atomic_path, atomic_write_text

if TYPE_CHECKING:
    from conceptlens.hierarchy import Hierarchy


def write_concept_set(path: PathLike, concepts: Sequence[str]) -> None:
    """One concept a line (atomic)."""
    atomic_write_text(path, "\n".join(concepts) + "\n")


def read_concept_set(path: PathLike, keep_first_of_duplicates: bool = False) -> list[str]:
    """Concepts of a one-per-line file; blank lines are skipped, duplicates are an error
    (or, with ``keep_first_of_duplicates``, dropped after their first line)."""
    path = Path(path)
    concepts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if keep_first_of_duplicates:
        concepts = list(dict.fromkeys(concepts))
    seen: set[str] = set()
    dupes = [c for c in concepts if c in seen or seen.add(c)]
    if dupes:
        raise ValueError(f"{path}: duplicate concepts: {', '.join(sorted(set(dupes))[:10])}")
    if not concepts:
        raise ValueError(f"{path}: concept set is empty")
    return concepts


def class_synonyms_from_lines(lines: list[str]) -> list[list[str]]:
    """Lines of a class-names file (``"tench, Tinca tinca"``) -> synonyms per class."""
    return [[s.strip() for s in line.split(",") if s.strip()] for line in lines]


def write_class_names(path: PathLike, lines: Sequence[str]) -> None:
    """A class-names file, line i = class i (atomic)."""
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_class_synonyms(path: PathLike) -> list[list[str]]:
    """Synonyms per class from a class-names file, line ``i`` = class ``i``: positions
    matter, so repeated lines (ImageNet's two "crane" classes) are kept and blank lines
    are an error."""
    lines = Path(path).read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
    if blank:
        raise ValueError(f"{path}: blank line {blank[0]} (line i names class i)")
    return class_synonyms_from_lines(lines)


def write_parent_links(path: PathLike, parents: dict[str, str | None]) -> None:
    """A hierarchy TSV of child -> parent links only (``concept, parent``; atomic)."""
    lines = ["concept\tparent"] + [f"{c}\t{p or ''}" for c, p in parents.items()]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_hierarchy_tsv(path: PathLike) -> Hierarchy:
    """Read a hierarchy TSV (columns concept, parent[, definition][, lemmas])."""
    import pandas as pd

    from conceptlens.hierarchy import make_hierarchy

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for column in ("concept", "parent"):
        if column not in table.columns:
            raise ValueError(f"{path}: missing column {column!r} (columns: {list(table.columns)})")
    links = [(c.strip(), p.strip() or None) for c, p in zip(table["concept"], table["parent"])]
    lemmas = None
    if "lemmas" in table.columns:
        lemmas = {}
        for c, lem in zip(table["concept"], table["lemmas"]):
            names = tuple(x.strip() for x in lem.split("|") if x.strip())
            if names:
                lemmas.setdefault(c.strip(), names)
    definitions = None
    if "definition" in table.columns:
        definitions = {}
        for c, d in zip(table["concept"], table["definition"]):
            definitions.setdefault(c.strip(), d.strip())
    return make_hierarchy(links, lemmas, definitions, source=str(path))


def write_hierarchy_tsv(path: PathLike, hierarchy: Hierarchy) -> None:
    """Write ``hierarchy`` as a TSV (one row per parent link; roots with an empty parent),
    with ``lemmas`` and, when known, ``definition`` columns (atomic)."""
    import pandas as pd

    parents_of: list[list[str]] = [[] for _ in hierarchy.nodes]
    for p, c in hierarchy.edges:
        parents_of[c].append(hierarchy.nodes[p])
    rows = []
    for i, node in enumerate(hierarchy.nodes):
        for parent in parents_of[i] or [""]:
            row = {"concept": node, "parent": parent, "lemmas": "|".join(hierarchy.lemmas[i])}
            if hierarchy.definitions is not None:
                row["definition"] = hierarchy.definitions[i]
            rows.append(row)
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False)
