#!/usr/bin/env bash
# AISHELL-1: Mandarin read speech, 16 kHz; character tokens, CER. A Conformer trained from scratch as ESPnet2's
# egs2/aishell/asr1 conformer, sized for GPUs (see conf/asr_conformer.yaml and README.md).
set -euo pipefail
. ./path.sh

"${MAIN_ROOT}/recipes/alp.sh" \
    --train_set train --valid_set dev --test_sets "dev test" \
    --speed_perturb_factors "0.9 1.0 1.1" \
    --token_type char --token_size 6000 --token_symbols "" \
    --pretrain_systems "" --finetune_systems "conformer:conf/asr_conformer.yaml" --model_license Apache-2.0 \
    "$@"
