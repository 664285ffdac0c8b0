#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/test_cluster.py (Debian's slurmctld,
# slurmd, slurm-client and munge; `make test` and `make test-cluster` install them). Run as
# root. Idempotent: when the cluster is already up, it only waits for the node to be idle.
#
#   tests/cluster/start_slurm.sh [STATE_DIR]    # default /tmp/conceptlens-slurm
#   sinfo; sbatch ...                           # find the cluster with no SLURM_CONF
#   tests/cluster/stop_slurm.sh [STATE_DIR]
#
# Its config lives in STATE_DIR, not /etc/slurm; slurmd runs configless and caches it in
# /run/slurm/conf, where SLURM's commands look when /etc/slurm/slurm.conf is absent.
# The node is this host with its real CPU count and memory (`slurmd -C`) and no GPU (SLURM
# drops a GPU GRES that has no device file), so the test asks for none.
set -euo pipefail

STATE=${1:-/tmp/conceptlens-slurm}
export SLURM_CONF=$STATE/slurm.conf
NODE=$(hostname -s)
if [ -e /etc/slurm/slurm.conf ]; then  # commands would read it before /run/slurm/conf
    echo "start_slurm.sh: /etc/slurm/slurm.conf exists: this host has a SLURM of its own" >&2
    exit 1
fi

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null || true; }

wait_idle() {  # the node accepts jobs: idle, or mixed/allocated by an earlier test's jobs
    for _ in $(seq 60); do
        case $(node_state) in idle | mixed | allocated) return 0 ;; esac
        sleep 1
    done
    echo "start_slurm.sh: node $NODE not idle after 60 s (state: '$(node_state)')" >&2
    tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

# munge: SLURM's authentication, on its default socket; started unless it already answers.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge/munge.key
    runuser -u munge -- munged
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
fi

alive() { [ -s "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
if alive slurmctld && alive slurmd; then
    wait_idle
    exit 0
fi
"$(dirname "$0")/stop_slurm.sh" "$STATE"  # half up (one daemon died): start again

mkdir -p "$STATE"/{log,spool/ctld,spool/d}
# The node line as slurmd sees this host (CPUs, sockets, cores, RealMemory), less 512 MB
# of memory for the daemons themselves.
node_line=$(slurmd -C | head -n 1)
memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
node_line=$(sed "s/RealMemory=[0-9]*/RealMemory=$((memory - 512))/" <<<"$node_line")

cat >"$STATE/slurm.conf" <<EOF
# Written by tests/cluster/start_slurm.sh: one node, this host.
ClusterName=conceptlens-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
# Configless: slurmd fetches this file from slurmctld and caches it in /run/slurm/conf, where
# every SLURM command on this host finds it, even without SLURM_CONF (the executor plugin
# drops SLURM_* variables for the srun inside each job).
SlurmctldParameters=enable_configless
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups in a container: track processes by /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: finished jobs are kept by slurmctld for MinJobAge seconds (squeue --states=all)
# and each one is appended to a completion log, the record the test reads.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
MinJobAge=3600
# Cores and memory are what jobs consume (sbatch --cpus-per-task/--cpus-per-gpu, --mem).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
$node_line State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# -c: start with an empty job list; the pid files make stop_slurm.sh find the daemons.
slurmctld -c -f "$SLURM_CONF"
for _ in $(seq 30); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
slurmd --conf-server 127.0.0.1
wait_idle
