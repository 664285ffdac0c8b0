"""The local files a config names, checked before any job: the imported descriptions'
CSVs exist, and each existing checkpoint is a checkpoint.

:func:`check_input_files` runs at every workflow parse (a dry run too) and reads a few
bytes of each checkpoint, without torch; :func:`verify_checkpoints` loads the checkpoints
a user gave (``target.path``, local ``clip_models.<key>.pretrained``) with
``weights_only=True`` when a run starts.  Missing checkpoints are the requirements
check's (:mod:`conceptlens.offline`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from conceptlens.errors import InputError
from conceptlens.models.checkpoint_files import (
    WORLD_KEY,
    CheckpointError,
    checkpoint_error,
    checkpoint_problem,
    is_local_checkpoint,
)
from conceptlens.shipped import resolve_shipped_dir


def imported_path_errors(config: Mapping) -> list[str]:
    """One line per ``imported.<name>.path`` that is not a file."""
    out = []
    for name, entry in (config.get("imported") or {}).items():
        path = Path(str((entry or {}).get("path", ""))).expanduser()
        if not path.is_file():
            state = "is a folder, not a CSV file" if path.is_dir() else "does not exist"
            out.append(f"config key imported.{name}.path: {str(path)!r} {state}; give the CSV "
                       f"of {name}'s descriptions, or remove imported.{name}")
    return out


def config_checkpoints(config: Mapping, user_only: bool = False) -> list[tuple[str, Path]]:
    """(config key, file) of each local checkpoint ``config`` names: ``target.path``, the
    shipped world checkpoints (``world_models.shipped_dir``; not with ``user_only``) and
    each CLIP model's local ``pretrained`` file."""
    target = config.get("target") or {}
    source = target.get("source", "world")
    out = []
    if source in ("checkpoint", "world") and target.get("path"):
        out.append(("target.path", Path(target["path"]).expanduser()))
    models = config.get("world_models") or {}
    if source == "world" and models.get("source", "shipped") == "shipped" and not user_only:
        folder = Path(resolve_shipped_dir(models.get("shipped_dir")))
        out += [(WORLD_KEY, folder / "target.pt"), (WORLD_KEY, folder / "clip.pt")]
    for key, entry in (config.get("clip_models") or {}).items():
        pretrained = (entry or {}).get("pretrained")
        if pretrained and is_local_checkpoint(str(pretrained)):
            out.append((f"clip_models.{key}.pretrained", Path(pretrained).expanduser()))
    return list(dict.fromkeys(out))


def checkpoint_errors(config: Mapping) -> list[str]:
    """One line per existing checkpoint of ``config`` whose bytes show it is none."""
    out = []
    for key, path in config_checkpoints(config):
        problem = checkpoint_problem(path) if path.is_file() else None
        if problem is not None:
            out.append(str(checkpoint_error(path, key, problem)))
    return out


class InputFileError(InputError, ValueError):
    """Files the config names are missing or unreadable; one line each names the key."""


def check_input_files(config: Mapping) -> None:
    """Raise :class:`InputFileError` with one line per missing imported CSV and per
    checkpoint that is visibly none (no torch: the workflow's parse runs this)."""
    errors = imported_path_errors(config) + checkpoint_errors(config)
    if errors:
        raise InputFileError("\n".join(errors))


def verify_checkpoints(config: Mapping) -> None:
    """Load each checkpoint the user gave (not the shipped world ones) with
    ``weights_only=True``, memory-mapped; the first that fails raises
    :class:`~conceptlens.models.checkpoint_files.CheckpointError` naming its key."""
    from conceptlens.models.checkpoint_files import load_checkpoint

    for key, path in config_checkpoints(config, user_only=True):
        if path.is_file() and path.suffix not in (".safetensors", ".npz", ".npy"):
            load_checkpoint(path, key, mmap=True)


__all__ = ["CheckpointError", "InputFileError", "check_input_files", "config_checkpoints",
           "imported_path_errors", "verify_checkpoints"]
