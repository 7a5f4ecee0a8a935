#!/usr/bin/env bash
# LibriSpeech-100/asr1: ASR trained from scratch on train-clean-100, decoded on dev/test clean/other: the
# comparison for egs/librispeech/alp1, whose fine-tuning config it trains from a random start (init=null), with
# the same tokenizer (BPE 5000 on the train_clean_100 transcripts, as ESPnet's librispeech_100 asr1).
# Sized for GPUs (see README.md): `./run.sh --ngpu 8`.
set -euo pipefail
. ./path.sh

systems="asr:${MAIN_ROOT}/egs/librispeech/alp1/conf/finetune_asr.yaml:init=null"

"${MAIN_ROOT}/recipes/alp.sh" \
    --train_set train_clean_100 --valid_set dev --test_sets "dev_clean dev_other test_clean test_other" \
    --speed_perturb_factors "0.9 1.0 1.1" --audio_format flac \
    --token_type bpe --token_size 5000 --token_sources data/train_clean_100 \
    --pretrain_systems "" --finetune_systems "${systems}" \
    --model_license CC-BY-4.0 \
    "$@"
