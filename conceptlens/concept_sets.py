"""The built-in concept sets: sha256-checked downloads and sets derived from WordNet 3.0.

A concept set is a text file, one concept a line.  ``concept_sets.<name>: null`` in a config
names one of these:

- ``imagenet``, ``broden``, ``20k``, ``10k``, ``3k``: the files of the CLIP-Dissect
  repository (:data:`BUILTIN_DOWNLOADS`), downloaded once and checked against their sha256;
- ``wordnet``: the first lemma of every noun synset of WordNet 3.0, underscores turned into
  spaces, de-duplicated in synset order (:func:`wordnet_nouns`; 82,115 synsets give 67,893
  distinct names);
- ``world``: the synthetic world's vocabulary (:func:`conceptlens.stages.world.world_concepts`);
- ``world_1k`` and ``world_wordnet``: the world's vocabulary followed by 1,000 of the
  WordNet nouns (those with the smallest sha256 of their text: a fixed sample, no random
  generator) or by all of them (:func:`world_plus_nouns`), the world's medium and large
  sets, as the papers' ImageNet / Broden (1k) and WordNet (80k) sets.

A path instead of null overrides any of them with a local file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conceptlens.errors import InputError
from conceptlens.io.atomic import atomic_path

CLIP_DISSECT_DATA = "https://raw.githubusercontent.com/Trustworthy-ML-Lab/CLIP-dissect/main/data"


@dataclass(frozen=True)
class ConceptDownload:
    """One downloadable concept set: its upstream file name and sha256 (hex)."""

    file: str
    sha256: str

    @property
    def url(self) -> str:
        return f"{CLIP_DISSECT_DATA}/{self.file}"


BUILTIN_DOWNLOADS: dict[str, ConceptDownload] = {
    "imagenet": ConceptDownload(
        "imagenet_labels.txt",
        "8b243a5b56f530010b42d64d8ef33c2660224447aded823f4d9de2cb1902a70e"),
    "broden": ConceptDownload(
        "broden_labels_clean.txt",
        "603036d4b138c66455e1285bd915f6cdcdf4728df7a5563843d1f89c9babe64b"),
    "20k": ConceptDownload(
        "20k.txt", "4ed6e5336d7760d281f7e72df31827da880c861363e820d8c65666b0f10d9ac0"),
    "10k": ConceptDownload(
        "10k.txt", "d6b3e04f1ac30be6525d41474166c0bff28486ecd8c48dcb0ab9c7c9cc05ed86"),
    "3k": ConceptDownload(
        "3k.txt", "425845cf228cf91200e25cbf0361cc078502ce1cc2f9d4558b29abe78096afe1"),
}
# Upstream files that list a concept more than once (Broden: 1,197 lines, 1,153 distinct
# names); the workflow keeps each concept's first line.
DUPLICATES_ALLOWED = ("broden",)
#: world vocabulary + WordNet nouns: set name -> number of nouns added (None = all)
WORLD_PLUS_SETS: dict[str, int | None] = {"world_1k": 1000, "world_wordnet": None}
DERIVED_SETS = ("world", "wordnet", *WORLD_PLUS_SETS)
#: the built-in sets read from WordNet 3.0
WORDNET_SETS = ("wordnet", *WORLD_PLUS_SETS)
BUILTIN_NAMES = (*DERIVED_SETS, *BUILTIN_DOWNLOADS)


# results/<DOWNLOADS_FOLDER>/concept_sets/<name>.txt: the downloads every run shares
DOWNLOADS_FOLDER = "downloads"


class ConceptSetError(InputError, RuntimeError):
    """A concept set cannot be downloaded or derived; the message names the URL or file."""


def sha256_of(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download_checked(url: str, dest: str | os.PathLike, sha256: str,
                     timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` and check its sha256; ``dest`` appears only when the
    digest matches (no partial or wrong file is left behind).  Proxies come from the
    usual environment variables; ``file://`` URLs work too."""
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as err:
            raise ConceptSetError(f"cannot download {url}: {getattr(err, 'reason', err)}") from err
        got = sha256_of(tmp)
        if got != sha256:
            raise ConceptSetError(f"{url}: sha256 {got} does not match the expected {sha256}; "
                                  f"{dest} was not written")
    return dest


def download_url(name: str, mirror: str | None = None) -> str:
    """URL of built-in concept set ``name``: upstream, or its file under base URL ``mirror``."""
    if name not in BUILTIN_DOWNLOADS:
        raise ConceptSetError(f"no download for concept set {name!r} (known: "
                              f"{', '.join(BUILTIN_DOWNLOADS)})")
    entry = BUILTIN_DOWNLOADS[name]
    return f"{mirror.rstrip('/')}/{entry.file}" if mirror else entry.url


def download_concept_set(name: str, dest: str | os.PathLike, mirror: str | None = None
                         ) -> Path:
    """Download built-in concept set ``name`` (a key of :data:`BUILTIN_DOWNLOADS`) to
    ``dest``, sha256-checked, from upstream or from base URL ``mirror``."""
    return download_checked(download_url(name, mirror), dest, BUILTIN_DOWNLOADS[name].sha256)


def first_lemmas(synsets: Iterable) -> list[str]:
    """The first lemma of each synset, underscores to spaces, de-duplicated in order."""
    return list(dict.fromkeys(s.lemma_names()[0].replace("_", " ") for s in synsets))


def wordnet_nouns(reader=None) -> list[str]:
    """The WordNet concept set: the first lemma of every noun synset of WordNet 3.0, in the
    database's order, underscores to spaces, de-duplicated (67,893 names).  ``reader``: an
    NLTK WordNet reader (default: Debian's ``/usr/share/wordnet``, else NLTK's corpus)."""
    return first_lemmas((reader or default_wordnet_reader()).all_synsets("n"))


def world_plus_nouns(world: Sequence[str], nouns: Sequence[str], n: int | None = None
                     ) -> list[str]:
    """The world vocabulary, then the WordNet ``nouns`` that are not in it nor repeat an
    earlier noun (compared case-insensitively): all of them (``n`` None, in their order) or the ``n`` whose
    sha256 of the lower-cased text is smallest, in that order (a sample that is the same
    on every machine and Python)."""
    seen = {c.lower() for c in world}
    extra = []
    for noun in nouns:
        if noun.lower() not in seen:
            seen.add(noun.lower())
            extra.append(noun)
    if n is not None:
        extra = sorted(extra, key=lambda c: hashlib.sha256(c.lower().encode()).hexdigest())
        extra = extra[:n]
    return [*world, *extra]


def imagenet_synonyms(wnids: Sequence[str], reader=None) -> list[str]:
    """One line per wnid (``n01440764``): its synset's lemmas, underscores to spaces, joined
    by ", " (``"tench, Tinca tinca"``), the format of ``imagenet_labels.txt``."""
    wn = reader or default_wordnet_reader()
    lines = []
    for wnid in wnids:
        if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
            raise ConceptSetError(f"{wnid!r} is not a WordNet noun id (n + 8 digits)")
        with warnings.catch_warnings():  # nltk warns, then returns None, for a bad offset
            warnings.simplefilter("ignore")
            try:
                synset = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
            except Exception:  # older nltk raises WordNetError instead
                synset = None
        if synset is None:
            raise ConceptSetError(f"{wnid}: no such noun synset in WordNet 3.0")
        lines.append(", ".join(lemma.replace("_", " ") for lemma in synset.lemma_names()))
    return lines


def default_wordnet_reader():
    """WordNet 3.0 from Debian's wordnet-base when installed, else NLTK's corpus."""
    from conceptlens.hierarchy import DEFAULT_WORDNET_DIR, wordnet_reader

    if Path(DEFAULT_WORDNET_DIR, "data.noun").is_file():
        return wordnet_reader(DEFAULT_WORDNET_DIR)
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return wordnet
    except LookupError as err:
        raise ConceptSetError(f"WordNet 3.0 is not installed: neither {DEFAULT_WORDNET_DIR} "
                              "(apt-get install wordnet-base) nor NLTK's wordnet corpus") from err
