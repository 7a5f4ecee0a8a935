#!/usr/bin/env bash
# A single-machine Slurm for the cluster tests (make test-cluster): installs Debian's slurm-wlm and munge with apt,
# writes /etc/slurm/slurm.conf for this host (one node, one partition, no cgroups, no accounting), and starts
# munged, slurmctld and slurmd directly (containers have no systemd). What it starts is listed in ${STATE}/started,
# which stop.sh reads. A machine where `sinfo` already answers is left as it is. Needs root.
set -euo pipefail

STATE=/run/alptk-slurm  # pid files of the daemons started here
CONF=/etc/slurm/slurm.conf
APT_LOG=/var/log/alptk-slurm-apt.log

say() { echo "tools/slurm/install.sh: $*"; }
fail() { say "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs packages with apt and starts system daemons)"
if command -v sinfo >/dev/null && sinfo --noheader >/dev/null 2>&1; then
    say "Slurm already answers (sinfo): using it, starting nothing"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update && apt-get install -y --no-install-recommends slurm-wlm munge; } >"${APT_LOG}" 2>&1 ||
        fail "apt-get could not install slurm-wlm and munge (no Debian mirror reachable?): $(tail -n1 "${APT_LOG}")" \
            "(all of it in ${APT_LOG})"
fi

HEADER="# written by alptk's tools/slurm/install.sh: a single-machine Slurm for tests"
if [ -e "${CONF}" ] && [ "$(head -n1 "${CONF}")" != "${HEADER}" ]; then
    fail "${CONF} exists but Slurm does not answer: start that Slurm, or move the file away"
fi
mkdir -p "${STATE}" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
node=$(slurmd -C | head -n1)  # NodeName=<host> CPUs=... RealMemory=...: this machine as slurmd sees it
cat >"${CONF}" <<CONF
${HEADER}
ClusterName=alptk
SlurmctldHost=$(hostname -s)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
${node} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
echo "${CONF}" >"${STATE}/wrote"
: >"${STATE}/started"

if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid || fail "munged did not start"
    echo /run/munge/munged.pid >>"${STATE}/started"
fi
slurmctld || fail "slurmctld did not start (/var/log/slurm/slurmctld.log says why)"
echo "${STATE}/slurmctld.pid" >>"${STATE}/started"
slurmd || fail "slurmd did not start (/var/log/slurm/slurmd.log says why)"
echo "${STATE}/slurmd.pid" >>"${STATE}/started"

for _ in $(seq 60); do
    if [ "$(sinfo --noheader --format=%t 2>/dev/null)" = idle ]; then
        say "Slurm is up: $(sinfo --noheader --format='node %N, %c CPUs, state %t')"
        exit 0
    fi
    sleep 1
done
fail "the node did not become idle in 60 s: $(sinfo --noheader --format='%N %t %E' 2>&1)"
