"""Glue for Snakemake rule scripts: logging, threads, and dying with Snakemake."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from conceptlens.parent_watch import forked_children_die_with_job, watch_snakemake


@contextlib.contextmanager
def rule_context(snakemake) -> Iterator[logging.Logger]:
    """Send stdout, stderr and logging of a rule script to its ``log:`` file (a failure's
    error and traceback included), limit torch to the rule's ``threads:``, and stop the
    job when the snakemake process running it is gone (:mod:`conceptlens.parent_watch`).

    Torch is not imported here (it takes seconds, and most rules do not need it): a
    script that imported it gets ``torch.set_num_threads``; one that imports it later
    reads ``OMP_NUM_THREADS``, which Snakemake sets to the job's threads and which is set
    here too where it is missing."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    stream = open(log_path, "w", buffering=1) if log_path else sys.stderr
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                                format="%(asctime)s %(levelname)s %(message)s")
            limit_torch_threads(max(1, int(snakemake.threads)))
            logger = logging.getLogger(f"conceptlens.{snakemake.rule}")
            forked_children_die_with_job()
            watching = watch_snakemake(logger)
            try:
                yield logger
            except Exception as err:  # the log file says why the job failed, too
                logger.error("%s: %s", type(err).__name__, err, exc_info=True)
                raise
            finally:
                if watching is not None:
                    watching.set()
    finally:
        if log_path:
            stream.close()


def limit_torch_threads(threads: int) -> None:
    """Limit torch's intra-op threads to ``threads`` without importing torch."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
