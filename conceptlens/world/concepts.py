"""World concept sets and the world concept hierarchy, as files."""

from __future__ import annotations

import os
from pathlib import Path

from conceptlens.files import atomic_write_text
from conceptlens.world.vocabulary import world_concepts, world_hierarchy


def write_concept_set(path: str | os.PathLike, concepts: list[str] | None = None) -> None:
    """One concept a line (the full world vocabulary plus out-of-world words by default)."""
    atomic_write_text(path, "\n".join(concepts if concepts is not None else world_concepts()) + "\n")


def write_hierarchy(path: str | os.PathLike, parents: dict[str, str | None] | None = None) -> None:
    """Tab-separated child, parent (empty for the root), with a header."""
    parents = parents if parents is not None else world_hierarchy()
    lines = ["concept\tparent"] + [f"{c}\t{p or ''}" for c, p in parents.items()]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_concept_set(path: str | os.PathLike, keep_first_of_duplicates: bool = False
                     ) -> list[str]:
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
