#!/usr/bin/env bash
# Stops the daemons tools/slurm/install.sh started (and only those) and removes the slurm.conf it wrote.
set -euo pipefail

STATE=/run/alptk-slurm

[ -d "${STATE}" ] || { echo "tools/slurm/stop.sh: nothing to stop (install.sh started nothing here)"; exit 0; }
if [ -f "${STATE}/started" ]; then
    # the last started first: slurmd, slurmctld, then munged
    for pidfile in $(tac "${STATE}/started"); do
        [ -f "${pidfile}" ] || continue
        pid=$(cat "${pidfile}")
        kill "${pid}" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
        echo "tools/slurm/stop.sh: stopped $(basename "${pidfile}" .pid) (pid ${pid})"
    done
fi
[ -f "${STATE}/wrote" ] && rm -f "$(cat "${STATE}/wrote")"
rm -rf "${STATE}"
