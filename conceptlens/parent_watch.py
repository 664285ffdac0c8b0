"""Rule jobs stop when the Snakemake process that runs them is gone (e.g. ``kill -9``).

Snakemake's job processes do not die with it: killed hard, it leaves them running,
re-parented, still writing outputs. Each parse of the Snakefile (rules/common.smk) records
the parsing process in ``CONCEPTLENS_SNAKEMAKE`` (:func:`record_snakemake`): locally the
main process, on a cluster the job's own snakemake process on its node. In a job,
:func:`watch_snakemake` (called by :func:`conceptlens.workflow.rule_context`) polls that
process and, once it is gone, logs one line, kills the job's descendants and exits.
:func:`forked_children_die_with_job` makes processes forked from the job's main thread
(DataLoader workers) die with it. Linux only: elsewhere, and outside Snakemake, no-ops.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

ENV = "CONCEPTLENS_SNAKEMAKE"
POLL_SECONDS = 0.5
EXIT_CODE = 1
PROC = Path("/proc")
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessIdentity:
    """A process, told apart from a later one with its PID: host, PID namespace, start."""

    host: str
    pid_namespace: str
    pid: int
    start_time: int  # clock ticks after boot (/proc/<pid>/stat, field 22)

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> ProcessIdentity | None:
        """The identity in ``text``; None where it is missing or malformed."""
        try:
            return cls(**json.loads(text)) if text else None
        except (TypeError, ValueError):
            return None


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent PID, start time) of process ``pid``; None where it does not exist."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in (...) may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _pid_namespace() -> str:
    try:
        return os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return ""


def identity(pid: int | None = None) -> ProcessIdentity | None:
    """The identity of process ``pid`` (default: this one); None without /proc or it."""
    pid = os.getpid() if pid is None else pid
    stat = _stat(pid)
    if stat is None:
        return None
    return ProcessIdentity(socket.gethostname(), _pid_namespace(), pid, stat[2])


def is_running(process: ProcessIdentity) -> bool:
    """Whether ``process`` (same host and PID namespace as this one) still runs."""
    stat = _stat(process.pid)
    return stat is not None and stat[0] not in "ZX" and stat[2] == process.start_time


def ancestors(pid: int | None = None) -> list[int]:
    """PIDs of the parent, grandparent, ... of process ``pid`` (default: this one)."""
    chain, pid = [], os.getpid() if pid is None else pid
    while (stat := _stat(pid)) is not None and stat[1] > 0:
        pid = stat[1]
        chain.append(pid)
    return chain


def descendants(pid: int | None = None) -> list[int]:
    """PIDs of the children, grandchildren, ... of process ``pid`` (default: this one)."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def record_snakemake(environ: MutableMapping[str, str] = os.environ) -> None:
    """Record this process (a Snakemake parse of the Snakefile) as the one its jobs watch.

    Set at every parse, so a cluster job's own snakemake process replaces the identity of
    the submitting one that the job's environment inherited."""
    me = identity()
    if me is None:
        environ.pop(ENV, None)
    else:
        environ[ENV] = me.encode()


def watched_snakemake(environ: MutableMapping[str, str] = os.environ
                      ) -> ProcessIdentity | None:
    """The recorded snakemake process this process should watch: on this host, in this PID
    namespace, and an ancestor of this process or already gone; else None."""
    owner = ProcessIdentity.decode(environ.get(ENV))
    me = identity()
    if owner is None or me is None:
        return None
    if (owner.host, owner.pid_namespace) != (me.host, me.pid_namespace):
        return None
    if is_running(owner) and owner.pid not in ancestors():
        return None  # another process tree's snakemake
    return owner


def stop_job(owner: ProcessIdentity, log: logging.Logger) -> None:
    """Log one line, kill this process' descendants and exit with :data:`EXIT_CODE`."""
    log.error("snakemake (pid %d) that ran this job is gone: stopping the job so that it "
              "writes nothing more", owner.pid)
    for pid in descendants():
        with contextlib.suppress(ProcessLookupError, PermissionError):  # exited
            os.kill(pid, signal.SIGKILL)
    os._exit(EXIT_CODE)


def watch_snakemake(log: logging.Logger, environ: MutableMapping[str, str] = os.environ,
                    interval: float = POLL_SECONDS) -> threading.Event | None:
    """Stop this job (:func:`stop_job`) within ``interval`` seconds of its snakemake
    process' end, from a daemon thread; returns the event that ends the watch, or None
    where there is nothing to watch (:func:`watched_snakemake`)."""
    owner = watched_snakemake(environ)
    if owner is None:
        return None
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not is_running(owner):
                stop_job(owner, log)
            done.wait(interval)

    threading.Thread(target=watch, name="conceptlens-watch-snakemake", daemon=True).start()
    return done


_forking = {"main_thread": False, "parent": 0}
_prctl: list = []  # libc's prctl, looked up before any fork (no dlopen in a forked child)


def _before_fork() -> None:
    _forking.update(main_thread=threading.current_thread() is threading.main_thread(),
                    parent=os.getpid())


def _after_fork_in_child() -> None:
    # The signal comes when the forking *thread* ends: only the main thread's children.
    if _forking["main_thread"] and set_parent_death_signal(signal.SIGKILL):
        if os.getppid() != _forking["parent"]:  # the parent died before the prctl
            os._exit(EXIT_CODE)


def forked_children_die_with_job() -> None:
    """Processes forked from this process' main thread get SIGKILL when it ends (Linux)."""
    if not _prctl and hasattr(os, "register_at_fork"):
        try:
            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError, TypeError):  # no prctl: not Linux
            return
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def set_parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent thread ends; whether set
    (only after :func:`forked_children_die_with_job` found prctl)."""
    return bool(_prctl) and _prctl[0](PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
