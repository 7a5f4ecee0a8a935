#!/usr/bin/env bash
# LibriSpeech/alp1: pre-training as SpeechT5 does it, on the 960 h of training speech unpaired (train_960), the
# LibriSpeech LM corpus text unpaired (lm_text) and train-clean-100 paired; then ASR fine-tuned on train-clean-100
# and decoded on dev/test clean/other. egs/librispeech_100/asr1 trains the same ASR system from scratch.
# Sized for GPUs (see README.md and conf/): `./run.sh --ngpu 8`; `--lm_text_fraction 0.1` keeps a tenth of the text.
set -euo pipefail
. ./path.sh

lm_text_fraction=1.0   # share of the LM text's lines used (evenly spaced: 0.1 keeps every 10th line)
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --lm_text_fraction) lm_text_fraction=$2; shift 2 ;;
        --lm_text_fraction=*) lm_text_fraction=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

# The tokenizer is the one egs/librispeech_100/asr1 trains (ESPnet's librispeech_100: BPE 5000 on the
# train_clean_100 transcripts), so the pre-trained and the from-scratch systems share their output vocabulary.
"${MAIN_ROOT}/recipes/alp.sh" \
    --local_data_opts "--lm_text_fraction ${lm_text_fraction}" \
    --train_set train_clean_100 --valid_set dev --test_sets "dev_clean dev_other test_clean test_other" \
    --speech_sets train_960 --speed_perturb_factors "0.9 1.0 1.1" \
    --audio_format flac --feats_storage 16bit \
    --token_type bpe --token_size 5000 --token_sources data/train_clean_100 \
    --finetune_systems "asr:conf/finetune_asr.yaml" \
    --model_license CC-BY-4.0 \
    ${args[@]+"${args[@]}"}
