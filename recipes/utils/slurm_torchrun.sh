#!/usr/bin/env bash
# Run by srun (recipes/alp.sh's launch with --cmd slurm), once per Slurm task: one torchrun agent of NPROC processes.
# The agents, as many as the job step has tasks, meet in a c10d rendezvous at the step's first node on PORT.
# Usage: slurm_torchrun.sh NPROC PORT TORCHRUN_ARGS...
set -euo pipefail
nproc=$1 port=$2
shift 2
host=$(scontrol show hostnames "${SLURM_STEP_NODELIST:-${SLURM_JOB_NODELIST}}" | head -n1)
echo "Slurm task ${SLURM_PROCID} of ${SLURM_NTASKS} on $(hostname -s): torchrun agent of ${nproc} process(es)," \
    "rendezvous at ${host}:${port}" >&2
exec torchrun --nnodes "${SLURM_NTASKS}" --nproc_per_node "${nproc}" --rdzv_backend c10d \
    --rdzv_endpoint "${host}:${port}" --rdzv_id "${SLURM_JOB_ID}.${SLURM_STEP_ID}" "$@"
