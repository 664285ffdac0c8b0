"""Where a Snakemake run's time went: its jobs' start and end times, read from the run's log.

Snakemake's log (what ``snakemake`` prints, or ``.snakemake/log/*.snakemake.log``) gives,
per job, a ``[date]`` line, ``rule <name>:`` (or ``localrule``), its ``input:``, ``output:``,
``jobid:`` and ``wildcards:``, and later ``Finished jobid: N``.  A job depends on another
when one of its inputs is one of the other's outputs (or lies inside an output folder).
Times have the log's resolution: one second.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

_DATE = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_FIELD = re.compile(r"^(input|output|jobid|wildcards): (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass(frozen=True)
class Job:
    """One job of a run: ``start`` and ``end`` in seconds after the run's first job started;
    ``end`` is None for a job the log never saw finish."""

    jobid: int
    rule: str
    wildcards: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    start: float
    end: float | None

    @property
    def name(self) -> str:
        return f"{self.rule}[{self.wildcards}]" if self.wildcards else self.rule

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start


def _date(text: str) -> dt.datetime:
    return dt.datetime.strptime(re.sub(" +", " ", text), "%a %b %d %H:%M:%S %Y")


def parse_snakemake_log(text: str) -> list[Job]:
    """The jobs of a Snakemake log, in the order they started.

    Raises ValueError when the log has no job (e.g. a dry run or a run that failed before
    scheduling anything)."""
    when: dt.datetime | None = None
    first: dt.datetime | None = None
    current: dict | None = None
    started: dict[int, dict] = {}
    ended: dict[int, dt.datetime] = {}

    def close_block() -> None:
        nonlocal current
        if current is not None and "jobid" in current:
            started[current["jobid"]] = current
        current = None

    for raw in text.splitlines():
        line = raw.strip()
        if m := _DATE.match(line):
            close_block()
            when = _date(m.group(1))
            first = first or when
        elif m := _RULE.match(line):
            close_block()
            current = {"rule": m.group(1), "start": when, "input": "", "output": "",
                       "wildcards": ""}
        elif current is not None and (m := _FIELD.match(line)):
            key, value = m.groups()
            current[key] = int(value) if key == "jobid" else value
        elif m := _FINISHED.match(line):
            close_block()
            if when is not None:
                ended[int(m.group(1))] = when
        elif not line:
            close_block()
    close_block()
    if not started or first is None:
        raise ValueError("the Snakemake log names no job (a dry run, or a run that "
                         "stopped before its first job)")

    def seconds(t: dt.datetime) -> float:
        return (t - first).total_seconds()

    def paths(value: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in value.split(",") if p.strip())

    jobs = [Job(jobid=jobid, rule=b["rule"], wildcards=b["wildcards"],
                inputs=paths(b["input"]), outputs=paths(b["output"]),
                start=seconds(b["start"]),
                end=seconds(ended[jobid]) if jobid in ended else None)
            for jobid, b in started.items()]
    return sorted(jobs, key=lambda j: (j.start, j.jobid))


def job_dependencies(jobs: Iterable[Job]) -> dict[int, list[int]]:
    """jobid -> the jobids whose outputs it reads (an input equal to an output, or inside
    an output folder)."""
    jobs = list(jobs)
    producer: dict[str, int] = {out: j.jobid for j in jobs for out in j.outputs}

    def made_by(path: str) -> int | None:
        candidate = path
        while candidate:
            if candidate in producer:
                return producer[candidate]
            candidate = candidate.rpartition("/")[0]
        return None

    deps: dict[int, list[int]] = {}
    for job in jobs:
        found = {made_by(p) for p in job.inputs} - {None, job.jobid}
        deps[job.jobid] = sorted(found)  # type: ignore[arg-type]
    return deps


def critical_chain(jobs: Iterable[Job]) -> list[Job]:
    """The chain that set the run's length: from the job that finished last, back through
    the dependency that finished last each time, to a job that waited for none.  Returned
    first job first."""
    jobs = list(jobs)
    by_id = {j.jobid: j for j in jobs}
    deps = job_dependencies(jobs)

    def finish(j: Job) -> float:
        return j.end if j.end is not None else float("inf")

    chain = [max(jobs, key=lambda j: (finish(j), j.start))]
    while deps[chain[-1].jobid]:
        chain.append(max((by_id[d] for d in deps[chain[-1].jobid]), key=finish))
    return chain[::-1]


def timeline_table(jobs: Iterable[Job]) -> pd.DataFrame:
    """One row a job: name, start, end and seconds (s after the first job's start)."""
    return pd.DataFrame([{"job": j.name, "start": j.start, "end": j.end,
                          "seconds": j.seconds} for j in jobs])
