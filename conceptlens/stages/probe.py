"""Stages before any image is read: the requirements check and a real probe set's index."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from conceptlens.io.atomic import PathLike

if TYPE_CHECKING:
    import pandas as pd

LOG = logging.getLogger("conceptlens.stages.probe")


def check_requirements(config: Mapping, results_dir: PathLike, log: logging.Logger = LOG
                       ) -> dict[str, Any]:
    """Check that every weight, image folder and download ``config`` needs is here or
    downloadable (else one error naming each missing item and its config key), and that
    each checkpoint the user gave loads with ``weights_only=True`` (else a
    :class:`~conceptlens.models.checkpoint_files.CheckpointError` naming its key); return
    the summary of what was checked (``checks/requirements.json``)."""
    from conceptlens import offline
    from conceptlens.input_files import verify_checkpoints

    offline.check_requirements(config, results_dir, f"run {config['run']!r}")
    verify_checkpoints(config)
    log.info("every required weight, image folder and download is available")
    return {"run": config["run"], "target": config["target"], "probe": config["probe"],
            "clip_models": config["clip_models"],
            "sentence_model": config["metrics"]["sentence_model"],
            "concept_sets": config["concept_sets"]}


def check_requirements_at_start(config: Mapping, results_dir: PathLike) -> None:
    """The workflow's check before any job runs (its ``onstart``): the check's log goes to
    ``logs/check_requirements.log`` and its summary to ``checks/requirements.json`` under
    ``results_dir``; anything missing stops the run with one message (SystemExit)."""
    from conceptlens import offline
    from conceptlens.io.atomic import atomic_write_json
    from conceptlens.models.checkpoint_files import CheckpointError

    results_dir = Path(results_dir)
    log_file = results_dir / "logs" / "check_requirements.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger("conceptlens.check_requirements")
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        summary = check_requirements(config, results_dir, log)
    except (offline.MissingRequirementsError, CheckpointError) as err:
        log.error("%s", err)
        raise SystemExit(f"{err}\n(log: {log_file})") from None
    finally:
        log.removeHandler(handler)
        handler.close()
    summary_file = results_dir / "checks" / "requirements.json"
    if _json_or_none(summary_file) != json.loads(json.dumps(summary)):  # else left as is
        atomic_write_json(summary_file, summary)


def _json_or_none(path: Path) -> object:
    """The JSON value in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class ProbeIndex(NamedTuple):
    """A probe set's index table and its class list (ImageNet's wnids, else empty)."""

    table: pd.DataFrame
    classes: list[str]


def probe_index(spec: Mapping, log: logging.Logger = LOG, workers: int = 1) -> ProbeIndex:
    """The index table of a configured real probe set (no image is copied).  Every image
    is decoded (on ``workers`` threads; 1-1.5 ms per ImageNet-sized JPEG), so a truncated or
    corrupt file stops here, naming it; images under
    :data:`conceptlens.images.MIN_SIDE` px on a side are a warning (also on the console:
    ``extra={"console": True}``, see :func:`conceptlens.workflow.rule_context`)."""
    import time

    from conceptlens import probes
    from conceptlens.images import tiny_images

    start = time.perf_counter()
    table, classes = probes.probe_index_and_classes(spec, decode=True, workers=workers)
    seconds = time.perf_counter() - start
    labelled = int((table["label"] >= 0).sum())
    log.info("%d %s images from %s (%d labelled); sizes %s-%s px; all decoded in %.1f s "
             "(%.2f ms each)", len(table), spec["source"], spec["path"], labelled,
             int(table[["width", "height"]].min().min()),
             int(table[["width", "height"]].max().max()), seconds,
             1e3 * seconds / max(1, len(table)))
    tiny = tiny_images(list(table["file"]), table[["width", "height"]].to_numpy())
    if tiny:
        log.warning("%s", tiny, extra={"console": True})
    return ProbeIndex(table, classes)
