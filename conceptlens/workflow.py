"""Glue for Snakemake rule scripts: logging, threads, and dying with Snakemake."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from conceptlens.errors import InputError
from conceptlens.parent_watch import forked_children_die_with_job, watch_snakemake


@contextlib.contextmanager
def rule_context(snakemake) -> Iterator[logging.Logger]:
    """Send stdout, stderr and logging of a rule script to its ``log:`` file (a failure's
    error and traceback included), limit torch to the rule's ``threads:``, and stop the
    job when the snakemake process running it is gone (:mod:`conceptlens.parent_watch`).
    Records logged with ``extra={"console": True}`` go to the console too
    (:func:`console_handler`); so do the progress lines of :func:`conceptlens.progress.progress`
    (written to the log at INFO) where ``CONCEPTLENS_PROGRESS=console``.  An :class:`~conceptlens.errors.InputError` (a bad file,
    key or weight the user gave) ends the job with its message alone, in the log and on
    the console, and exit status 1; any other exception keeps its traceback.

    Torch is not imported here (it takes seconds, and most rules do not need it): a
    script that imported it gets ``torch.set_num_threads``; one that imports it later
    reads ``OMP_NUM_THREADS``, which Snakemake sets to the job's threads and which is set
    here too where it is missing.  The root logger's handlers and level are restored on
    exit, so a script run in-process (tests, notebooks) leaves no handler on a closed
    file behind."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    stream = open(log_path, "w", buffering=1) if log_path else sys.stderr
    root = logging.getLogger()
    before = root.handlers[:], root.level  # restored after: a script run in-process
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                                format="%(asctime)s %(levelname)s %(message)s")
            console = console_handler(snakemake.rule) if log_path else logging.NullHandler()
            logging.getLogger().addHandler(console)
            limit_torch_threads(max(1, int(snakemake.threads)))
            logger = logging.getLogger(f"conceptlens.{snakemake.rule}")
            forked_children_die_with_job()
            watching = watch_snakemake(logger)
            try:
                yield logger
            except InputError as err:  # the user's input: its lines say it all
                logger.error("%s", err)
                print(f"conceptlens {snakemake.rule}: error: {err}", file=sys.__stderr__,
                      flush=True)
                raise SystemExit(1) from None
            except Exception as err:  # a bug: the log file keeps its traceback, too
                logger.error("%s: %s", type(err).__name__, err, exc_info=True)
                raise
            finally:
                logging.getLogger().removeHandler(console)
                if watching is not None:
                    watching.set()
    finally:
        for handler in root.handlers[:]:  # basicConfig's handler of the (closed) log file
            if handler not in before[0]:
                root.removeHandler(handler)
                handler.close()
        root.handlers[:] = before[0]
        root.setLevel(before[1])
        if log_path:
            stream.close()


def console_handler(rule: str) -> logging.Handler:
    """A handler that copies the records logged with ``extra={"console": True}`` (warnings
    about the user's inputs) to the console (the process's own stderr, which the rule's
    ``log:`` redirection leaves alone), one line each: ``conceptlens RULE: warning: ...``."""
    handler = logging.StreamHandler(sys.__stderr__)
    handler.addFilter(lambda record: bool(getattr(record, "console", False)))
    handler.setFormatter(_ConsoleFormatter(f"conceptlens {rule}"))
    return handler


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        kind = "progress" if getattr(record, "progress", False) else record.levelname.lower()
        return f"{self.prefix}: {kind}: {record.getMessage()}"


def limit_torch_threads(threads: int) -> None:
    """Limit torch's intra-op threads to ``threads`` without importing torch."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
