"""Reading a Snakemake log into a timeline and its critical chain."""

import pytest

from conceptlens.run_timeline import (
    critical_chain,
    job_dependencies,
    parse_snakemake_log,
    timeline_table,
)

# The shape of Snakemake 9's log: a split writes a folder, two jobs read it, a report
# reads both; the second reader finishes last of the two.
LOG = """\
Building DAG of jobs...
Execute 2 jobs...

[Thu Dec  3 18:04:16 2026]
localrule split:
    output: results/r/world/probe
    log: results/r/logs/split.log
    jobid: 1
    wildcards: split=probe
    resources: tmpdir=/tmp
Shell command: None

[Thu Dec  3 18:04:16 2026]
localrule concepts:
    output: results/r/concepts/world.txt
    jobid: 2
    resources: tmpdir=/tmp
Shell command: None
[Thu Dec  3 18:04:17 2026]
Finished jobid: 2 (Rule: concepts)
1 of 5 steps (20%) done
[Thu Dec  3 18:04:20 2026]
Finished jobid: 1 (Rule: split)
Execute 2 jobs...

[Thu Dec  3 18:04:20 2026]
rule activations:
    input: results/r/world/probe, resources/world/target.pt
    output: results/r/activations/fc.npz, results/r/topk/fc.npz
    jobid: 3
    resources: tmpdir=/tmp
Shell command: None

[Thu Dec  3 18:04:20 2026]
rule embed:
    input: results/r/world/probe/images/000001.png, results/r/concepts/world.txt
    output: results/r/embeddings.npz
    jobid: 4
Shell command: None
[Thu Dec  3 18:04:29 2026]
Finished jobid: 3 (Rule: activations)
[Thu Dec  3 18:04:35 2026]
Finished jobid: 4 (Rule: embed)

[Thu Dec  3 18:04:35 2026]
localrule report:
    input: results/r/topk/fc.npz, results/r/embeddings.npz
    output: results/r/report.html
    jobid: 5
Shell command: None
[Thu Dec  3 18:04:41 2026]
Finished jobid: 5 (Rule: report)
"""


def test_jobs_times_fields_and_order():
    jobs = parse_snakemake_log(LOG)
    assert [j.rule for j in jobs] == ["split", "concepts", "activations", "embed", "report"]
    split = jobs[0]
    assert (split.jobid, split.wildcards, split.start, split.end) == (1, "split=probe", 0, 4)
    assert split.name == "split[split=probe]"
    assert split.outputs == ("results/r/world/probe",)
    assert jobs[2].inputs == ("results/r/world/probe", "resources/world/target.pt")
    assert jobs[2].outputs == ("results/r/activations/fc.npz", "results/r/topk/fc.npz")
    assert [j.seconds for j in jobs] == [4, 1, 9, 15, 6]
    table = timeline_table(jobs)
    assert table["seconds"].sum() == 35
    assert list(table["job"])[-1] == "report"


def test_dependencies_follow_outputs_and_output_folders():
    deps = job_dependencies(parse_snakemake_log(LOG))
    # embed reads a file inside split's output folder, and the concepts file.
    assert deps == {1: [], 2: [], 3: [1], 4: [1, 2], 5: [3, 4]}


def test_critical_chain_follows_the_last_finished_dependency():
    chain = critical_chain(parse_snakemake_log(LOG))
    assert [j.rule for j in chain] == ["split", "embed", "report"]


def test_unfinished_job_has_no_end_and_ends_the_chain():
    cut = LOG.split("[Thu Dec  3 18:04:41 2026]")[0]
    jobs = parse_snakemake_log(cut)
    assert jobs[-1].rule == "report" and jobs[-1].end is None and jobs[-1].seconds is None
    assert critical_chain(jobs)[-1].rule == "report"


def test_log_without_jobs_is_an_error():
    with pytest.raises(ValueError, match="names no job"):
        parse_snakemake_log("Building DAG of jobs...\nNothing to be done.\n")
