#!/usr/bin/env bash
# FSDD digits: real 8 kHz recordings of 6 speakers, resampled to 16 kHz; takes 0-4 are the test set.
set -euo pipefail
. ./path.sh

# From scratch, and from the mini_synth pre-trained model (the `paired` protocol, whose encoder has learned
# English words) when that recipe has been run (its vocabulary differs: the text embedding and output layers
# start afresh, the encoder and decoder carry over). One word token per digit.
pretrained=../../mini_synth/alp1/exp/pretrain_paired
systems="asr:conf/asr.yaml"
if [ -f "${pretrained}/model.safetensors" ]; then
    systems+=" asr_pretrained:conf/asr.yaml:init=${pretrained}"
else
    echo "run.sh: ${pretrained} not found: run egs/mini_synth/alp1 first to compare with a pre-trained start" >&2
fi

"${MAIN_ROOT}/recipes/alp.sh" \
    --train_set train --valid_set dev --test_sets test \
    --speed_perturb_factors "0.9 1.0 1.1" \
    --token_type word --token_size 20 --token_symbols "" \
    --pretrain_systems "" --finetune_systems "${systems}" --model_license CC-BY-SA-4.0 \
    "$@"
