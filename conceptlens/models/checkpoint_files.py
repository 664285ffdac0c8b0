"""Local checkpoint files the config names, read safely with one-line errors.

A file that cannot be a checkpoint (random bytes, text, a truncated zip), one whose pickle
holds objects ``weights_only=True`` refuses (they are never loaded), and a state dict that
does not fit its architecture each give a :class:`CheckpointError` of one line: the config
key, the file, what is wrong and what to do.  torch's own advice to retry with
``weights_only=False`` never reaches the message.

:func:`checkpoint_problem` looks at a file's bytes only (no torch: the workflow's parse
runs it); :func:`load_checkpoint` is ``torch.load(..., weights_only=True)`` with its
failures named.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conceptlens.errors import InputError

#: the shipped world checkpoints' key (target.pt, clip.pt)
WORLD_KEY = "world_models.shipped_dir"
#: suffixes of checkpoints that are not torch.save files, checked by their own format
SAFETENSORS_SUFFIX = ".safetensors"
NUMPY_SUFFIXES = (".npz", ".npy")  # open_clip's big_vision weights: not checked here
#: endings of a CLIP ``pretrained`` value that names a local file (else: an open_clip tag)
LOCAL_SUFFIXES = (".pt", ".pth", ".bin", SAFETENSORS_SUFFIX, *NUMPY_SUFFIXES)


class CheckpointError(InputError, ValueError):
    """A local checkpoint exists but cannot be loaded; the message names the config key,
    the file, what is wrong and what to do."""


@dataclass(frozen=True)
class Problem:
    """What is wrong with a checkpoint file: ``what`` follows the file's name in the
    message; ``kind`` picks the advice (format | truncated | unsafe | mismatch)."""

    what: str
    kind: str = "format"


def is_local_checkpoint(pretrained: str) -> bool:
    """Whether a CLIP ``pretrained`` value names a file rather than an open_clip tag."""
    return os.sep in pretrained or pretrained.endswith(LOCAL_SUFFIXES)


def key_label(key: str) -> str:
    """``config key K`` for a config key; an option (``--x``), a quoted name or a phrase
    as it is."""
    return key if key.startswith(("-", "`")) or " " in key else f"config key {key}"


def advice(key: str, kind: str) -> str:
    """What to do about a checkpoint problem of ``kind`` under ``key``."""
    if key == WORLD_KEY:
        return (f"restore the checkpoints of {key} (the shipped ones: git checkout -- "
                "resources/world) or set world_models.source: train to train them")
    if kind == "unsafe":
        return (f"save only its tensors (torch.save(model.state_dict(), path)) and point {key} "
                "at that file")
    if kind == "truncated":
        return (f"copy the file again (it is cut short or damaged), or point {key} at another "
                "checkpoint")
    if kind == "mismatch":
        return f"point {key} at a checkpoint of this architecture, or name the file's architecture"
    return f"point {key} at a file saved with torch.save(model.state_dict(), path)"


def checkpoint_error(path: str | os.PathLike, key: str, problem: Problem,
                     fix: str | None = None) -> CheckpointError:
    """The one-line error of ``problem`` with the file ``path`` named by ``key``."""
    return CheckpointError(f"{key_label(key)}: {str(path)!r} {problem.what}; "
                           f"{fix or advice(key, problem.kind)}")


# ---------------------------------------------------------------- the bytes (no torch)


def checkpoint_problem(path: str | os.PathLike) -> Problem | None:
    """What is visibly wrong with an existing checkpoint file from its bytes alone, or
    None when it looks like one: a zip archive with ``data.pkl`` or a pickle (torch.save's
    two formats), or a safetensors file for ``.safetensors`` (``.npz``/``.npy``
    files are not checked)."""
    path = Path(path)
    if path.suffix in NUMPY_SUFFIXES:
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as err:
        return Problem(f"cannot be read ({err.strerror or err})")
    if size == 0:
        return Problem("is empty (0 bytes), not a PyTorch checkpoint", "truncated")
    if path.suffix == SAFETENSORS_SUFFIX:
        return None if _is_safetensors(path, head, size) else Problem(
            "is not a safetensors file (no valid header)", "truncated")
    if head.startswith(b"PK"):
        return _zip_problem(path)
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return None  # a pickle: torch's legacy format (torch.load tells more)
    if _is_text(head):
        first = head.decode("utf-8", "replace").strip().splitlines()[0][:40]
        return Problem(f"is a text file (starting {first!r}), not a PyTorch checkpoint")
    return Problem("is not a PyTorch checkpoint (neither a zip archive nor a pickle)")


def _zip_problem(path: Path) -> Problem | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return Problem("is a truncated or damaged zip archive, not a complete PyTorch "
                       "checkpoint", "truncated")
    if not any(name.endswith("data.pkl") for name in names):
        return Problem("is a zip archive without data.pkl, not a PyTorch checkpoint")
    return None


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(head) - 3  # a character cut at the end of the sample
    return True


def _is_safetensors(path: Path, head: bytes, size: int) -> bool:
    """An 8-byte little-endian header length that fits the file, then a JSON object."""
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    if length <= 0 or 8 + length > size or head[8:9] != b"{":
        return False
    try:
        with open(path, "rb") as f:
            f.seek(8)
            return isinstance(json.loads(f.read(length)), dict)
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------- torch.load


def load_problem(err: BaseException) -> Problem:
    """The problem a failed ``torch.load(..., weights_only=True)`` reports, without
    torch's advice to load with ``weights_only=False``."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) or "weights_only" in text:
        blocked = list(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", text)))
        if blocked:
            return Problem(f"holds objects weights_only=True refuses to load "
                           f"({', '.join(blocked[:3])}; they are not loaded, for safety)",
                           "unsafe")
        return Problem("is a pickle torch.load cannot read as a checkpoint (not saved with "
                       "torch.save, or damaged)")
    if isinstance(err, EOFError):
        return Problem("is cut short (the pickle ends early), not a complete PyTorch "
                       "checkpoint", "truncated")
    if isinstance(err, RuntimeError) and ("zip" in text or "PytorchStreamReader" in text):
        return Problem("is a truncated or damaged zip archive, not a complete PyTorch "
                       "checkpoint", "truncated")
    if isinstance(err, OSError):
        return Problem(f"cannot be read ({err.strerror or type(err).__name__})")
    return Problem(f"is not a PyTorch checkpoint torch.load can read ({type(err).__name__})")


def file_problem(path: str | os.PathLike, err: BaseException) -> Problem:
    """Why an existing file failed to load with ``err``: what its bytes show, else what
    torch.load said (:func:`load_problem`)."""
    return checkpoint_problem(path) or load_problem(err)


def load_checkpoint(path: str | os.PathLike, key: str, fix: str | None = None,
                    mmap: bool = False) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; a file that is not a
    checkpoint, or holds objects weights_only refuses, raises :class:`CheckpointError`
    naming ``key`` and the file (``fix``: the advice, default :func:`advice`).  ``mmap``:
    map a zip checkpoint's tensors instead of reading them (a quick check)."""
    import torch

    problem = checkpoint_problem(path)
    if problem is not None:
        raise checkpoint_error(path, key, problem, fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True,
                          mmap=mmap and zipfile.is_zipfile(path))
    except Exception as err:  # torch.load fails with many types; its advice is dropped
        raise checkpoint_error(path, key, load_problem(err), fix) from None


def safe_error_text(err: BaseException) -> str:
    """The first line of ``err``, or the named load problem where it is torch's
    weights_only error (whose advice to load with weights_only=False is dropped)."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) or "weights_only" in text:
        return load_problem(err).what
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


# -------------------------------------------------------------- state dicts


def mismatch_summary(err: BaseException | str, limit: int = 3) -> str:
    """Counts and first names of the missing, unexpected and mis-shaped keys in a
    ``load_state_dict`` error (one line)."""
    text = str(err)
    parts = []
    for label, pattern in (("missing", r"Missing key\(s\) in state_dict: (.*)"),
                           ("unexpected", r"Unexpected key\(s\) in state_dict: (.*)")):
        match = re.search(pattern, text)
        if match:
            names = re.findall(r'"([^"]+)"', match[1])
            parts.append(f"{len(names)} {label} key(s) ({', '.join(names[:limit])}"
                         f"{', ...' if len(names) > limit else ''})")
    shapes = re.findall(r"size mismatch for ([^:]+):", text)
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es) ({', '.join(shapes[:limit])}"
                     f"{', ...' if len(shapes) > limit else ''})")
    return "; ".join(parts) or safe_error_text(err if isinstance(err, BaseException)
                                               else RuntimeError(text))
