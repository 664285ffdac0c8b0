"""Progress of long loops (items done, rate, time left) through tqdm, for every stage.

:func:`progress` is the one call: a tqdm bar over an iterable, or one to ``update()`` by
hand; :func:`progress_batches` counts the items of batches (a DataLoader's images),
:func:`progress_blocks` those of the blocks of a chunked loop.  Where it writes depends on who runs the code, not on the caller:

- in a rule job (:func:`conceptlens.workflow.rule_context`, whose logging goes to the
  rule's ``log:`` file at INFO), one log line per update, at most every
  :data:`LOG_INTERVAL` seconds, and a last line when the loop ends: no carriage returns,
  so the log stays small and readable (``grep`` the stage's ``desc``);
- under the command line (:func:`console_progress`, ``conceptlens describe``), to stderr:
  a live bar on a terminal, else the same lines as in a log;
- anywhere else (library calls, tests), nowhere, unless logging is at INFO for
  ``conceptlens.progress`` (or the ``log`` given), which is how one asks for it.

``CONCEPTLENS_PROGRESS=console`` in the environment (set by ``conceptlens describe
--report`` for the workflow it runs) also copies a job's progress lines to the job's
console, as ``conceptlens RULE: progress: ...``; ``CONCEPTLENS_PROGRESS=off`` turns all
progress off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator

from tqdm import tqdm

#: seconds between two progress lines of one loop in a log file (or a non-terminal stderr)
LOG_INTERVAL = 10.0
#: seconds between two redraws of a live bar on a terminal
TERMINAL_INTERVAL = 0.5
#: the environment variable: ``console`` (copy job progress to the console), ``off``
ENV = "CONCEPTLENS_PROGRESS"
#: the logger progress lines go through when the caller gives none
LOGGER = "conceptlens.progress"

_console: list[str] = []  # prefixes of the open console_progress() blocks, innermost last

_KNOWN_TOTAL = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_UNKNOWN_TOTAL = "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}{postfix}]"


@contextlib.contextmanager
def console_progress(prefix: str = "conceptlens") -> Iterator[None]:
    """While open, :func:`progress` bars go to stderr (the command line's): live on a
    terminal, else one ``PREFIX: progress line`` per update."""
    _console.append(prefix)
    try:
        yield
    finally:
        _console.pop()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str,
             unit: str = "it", log: logging.Logger | None = None,
             min_seconds: float = 0.0) -> tqdm:
    """A tqdm bar over ``iterable`` (or, without one, to ``update(n)`` by hand up to
    ``total``): ``desc`` names the loop in each line, ``unit`` its items (``images``,
    ``concepts``, ``steps``).  ``log``: the logger its lines go through in a rule job
    (default ``conceptlens.progress``; a job's logging sends either to its log file).
    ``min_seconds``: show nothing of a loop until it has run that long (inner loops that
    are usually quick: no line of their own then); 0, a last line always.
    Where the lines go: the module's doc; with nowhere to go the bar is disabled (it still
    iterates, and ``update``, ``set_postfix`` and ``close`` do nothing)."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    mode = os.environ.get(ENV, "").strip().lower()
    common = {"total": total, "desc": desc, "unit": unit}
    if mode == "off":
        return tqdm(iterable, disable=True, **common)
    if _console and _isatty(sys.stderr):
        return tqdm(iterable, file=sys.stderr, mininterval=TERMINAL_INTERVAL,
                    dynamic_ncols=True, leave=True, delay=min_seconds, **common)
    sinks: list[Callable[[str], None]] = []
    if _console:
        prefix, stream = _console[-1], sys.stderr
        sinks.append(lambda line: print(f"{prefix}: {line}", file=stream, flush=True))
    logger = log or logging.getLogger(LOGGER)
    if logger.isEnabledFor(logging.INFO) and logger.hasHandlers():
        extra = {"progress": True, "console": mode == "console"}
        sinks.append(lambda line: logger.info("%s", line, extra=extra))
    if not sinks:
        return tqdm(iterable, disable=True, **common)
    return _LineBar(iterable, sinks=sinks, min_seconds=min_seconds, **common)


def progress_batches(batches: Iterable, *, total: int | None, desc: str,
                     unit: str = "images", size: Callable[[object], int] = len,
                     log: logging.Logger | None = None, min_seconds: float = 0.0
                     ) -> Iterator:
    """Yield ``batches`` (tensors, arrays, lists), counting ``size(batch)`` items of each
    (default its length) once the caller is done with it and asks for the next: the rate
    and time left are those of the work done on them, not of loading them.  ``total``:
    the items of all batches (e.g. the images a loader reads)."""
    with progress(total=total, desc=desc, unit=unit, log=log, min_seconds=min_seconds) as bar:
        for batch in batches:
            yield batch
            bar.update(size(batch))


def progress_blocks(stop: int, step: int, *, desc: str, unit: str = "it",
                    log: logging.Logger | None = None, min_seconds: float = LOG_INTERVAL
                    ) -> Iterator[int]:
    """``range(0, stop, step)``, the starts of blocks of ``step`` items (neurons,
    concepts), counting each block's items once the caller asks for the next start.  By
    default a loop quicker than :data:`LOG_INTERVAL` shows nothing: block loops are inner
    loops (a stage's scoring), mostly quick."""
    with progress(total=stop, desc=desc, unit=unit, log=log, min_seconds=min_seconds) as bar:
        for start in range(0, stop, step):
            yield start
            bar.update(min(step, stop - start))


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Discard:
    """The file tqdm is given by :class:`_LineBar`, which writes its lines itself."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class _LineBar(tqdm):
    """A tqdm bar that hands each display to ``sinks`` as one plain line, at most every
    :data:`LOG_INTERVAL` seconds, plus the last one (average rate) when it closes; no
    line before the first item, none without new items since the last one."""

    monitor_interval = 0  # no monitor thread: lines are time-based (miniters=1)

    def __init__(self, iterable=None, *, sinks: list[Callable[[str], None]],
                 min_seconds: float = 0.0, **kwargs):
        self._sinks, self._last_n, self._min_seconds = sinks, 0, min_seconds
        fmt = _KNOWN_TOTAL if kwargs.get("total") else _UNKNOWN_TOTAL
        super().__init__(iterable, file=_Discard(), mininterval=LOG_INTERVAL, miniters=1,
                         leave=True, bar_format=fmt, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if (msg == "" or self.n == self._last_n  # nothing new (the last line repeated)
                or self._time() - self.start_t < self._min_seconds):
            return True
        line = (msg or self.__str__()).strip()
        if line:
            self._last_n = self.n
            for sink in self._sinks:
                sink(line)
        return True

    # a line shows them when it is due, not at once
    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)
