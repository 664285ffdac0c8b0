#!/usr/bin/env bash
# Stops the test cluster that tests/cluster/start_slurm.sh started (by its pid files) and
# removes its state. munged is left running: other SLURM users of this host may need it.
#
#   tests/cluster/stop_slurm.sh [STATE_DIR]    # default /tmp/conceptlens-slurm
set -uo pipefail

STATE=${1:-/tmp/conceptlens-slurm}
for daemon in slurmd slurmctld; do
    pidfile=$STATE/$daemon.pid
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
done
# slurmd's link to its cached config, when it is this cluster's
[ "$(readlink /run/slurm/conf)" = "$STATE/spool/d/conf-cache" ] && rm -f /run/slurm/conf
rm -rf "$STATE"
