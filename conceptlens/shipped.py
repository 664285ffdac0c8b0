"""Where the files that ship with conceptlens are: the default config, the presets, the
report templates, the shipped world models and the workflow itself (Snakefile, rules,
scripts).

They live at the top of a source checkout (``config.yaml``, ``configs/``, ``reports/``,
``resources/world/``, ``Snakefile``, ``rules/``, ``scripts/``, ``envs/``, ``profiles/``),
and a wheel or ``pip install .`` copies them into the package as ``conceptlens/_workflow/``
(``setup.py``'s build step), with the same layout.  :func:`workflow_dir` is the one place
that decides which copy is used: the checkout holding this package when there is one (so
that edits there take effect at once), else the installed copy; :func:`shipped_path` names
one file in it, or says exactly what is missing and how to get it.

Paths of the user's own files (probe folders, concept sets, checkpoints, ``results/``)
are not shipped files: they stay relative to the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from conceptlens.errors import InputError

#: the installed copy of the workflow files (written by the wheel build, setup.py)
PACKAGED_DIR = Path(__file__).resolve().parent / "_workflow"
#: the source checkout that holds this package (its top level), when it is one
CHECKOUT_DIR = Path(__file__).resolve().parents[1]
#: what the wheel build copies into the package (files and folders of the checkout)
SHIPPED = ("Snakefile", "config.yaml", "configs", "rules", "scripts", "reports",
           "resources/world", "envs", "profiles")
#: the default ``world_models.shipped_dir``
WORLD_MODELS_DIR = "resources/world"


class ShippedFileError(InputError, FileNotFoundError):
    """A file that ships with conceptlens is not there; the message names it and how to
    get it back."""


def workflow_dir() -> Path:
    """The folder of the shipped files: the source checkout holding this package (it has
    a ``Snakefile``), else the installed copy ``conceptlens/_workflow/``.  It may lack a
    file (:func:`shipped_path` says which)."""
    if (CHECKOUT_DIR / "Snakefile").is_file() and (CHECKOUT_DIR / "rules").is_dir():
        return CHECKOUT_DIR
    return PACKAGED_DIR


def package_root(folder: str | os.PathLike) -> Path:
    """The folder to put on ``sys.path`` so that the ``conceptlens`` package next to the
    workflow folder ``folder`` is the one imported: the checkout itself, or for the
    installed copy (``.../conceptlens/_workflow``) the folder holding the package."""
    folder = Path(folder).resolve()
    if (folder / "conceptlens" / "__init__.py").is_file():
        return folder
    if folder.name == PACKAGED_DIR.name and (folder.parent / "__init__.py").is_file():
        return folder.parents[1]
    return folder


def shipped_path(relative: str | os.PathLike) -> Path:
    """The shipped file or folder ``relative`` (e.g. ``config.yaml``,
    ``resources/world/target.pt``, ``reports``) in :func:`workflow_dir`.

    Raises :class:`ShippedFileError` naming the file, where it was looked for and how to
    get it when it is missing."""
    folder = workflow_dir()
    path = folder / relative
    if path.exists():
        return path
    if folder == CHECKOUT_DIR:
        how = (f"restore it in the checkout {CHECKOUT_DIR} (git checkout -- {relative}"
               + ("; or retrain the world models: world_models.source: train, then python -m "
                  "conceptlens.models.publish" if str(relative).startswith(WORLD_MODELS_DIR)
                  else "") + ")")
    else:
        how = ("this installation of conceptlens lacks its workflow files (installed from a "
               "wheel built without them?): reinstall it from a source checkout, e.g. "
               "pip install /path/to/conceptlens, or from a wheel built there with "
               "pip wheel --no-deps /path/to/conceptlens (the build copies config.yaml, "
               "configs/, reports/, resources/world/ and the workflow into the package); "
               "or use a checkout, with PYTHONPATH=/path/to/conceptlens")
    raise ShippedFileError(f"conceptlens: shipped file {relative} is missing ({path}); {how}")


def resolve_shipped_dir(value: str | os.PathLike | None,
                        basedir: str | os.PathLike | None = None) -> str:
    """``world_models.shipped_dir`` as a path that works from the working directory: as
    given when absolute or when it exists relative to the working directory (a source
    checkout run in place keeps its relative ``resources/world``), else under the workflow
    folder ``basedir`` (default :func:`workflow_dir`), where the shipped models are."""
    path = Path(value or WORLD_MODELS_DIR).expanduser()
    if path.is_absolute() or path.is_dir():
        return str(path)
    under = Path(basedir if basedir is not None else workflow_dir()) / path
    return str(under) if under.is_dir() else str(path)
