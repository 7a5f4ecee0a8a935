#!/usr/bin/env bash
# LJSpeech 1.1: text to speech in one voice (24 h of one speaker reading, 13,100 clips, 22.05 kHz), character tokens
# of the normalized text. Systems: asr, a character CTC/attention model of this corpus whose CTC alignments give
# the TTS systems each character's duration (fastspeech's aligner must share their token list); tts, parallel TTS
# from scratch; tts_pretrained, the same from the LibriSpeech pre-trained model when egs/librispeech/alp1 has been
# run. Intelligibility: an ASR model from elsewhere (--asr_model) transcribes the synthesized test set.
set -euo pipefail
. ./path.sh

librispeech=../../librispeech/alp1
asr_model=default  # --asr_model: a zoo source or an experiment; default: the LibriSpeech recipe's ASR package
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --asr_model) asr_model=$2; shift 2 ;;
        --asr_model=*) asr_model=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
if [ "${asr_model}" = default ]; then
    asr_model=${librispeech}/zoo/librispeech_alp1_asr
    if [ ! -f "${asr_model}/manifest.json" ]; then
        echo "run.sh: ${asr_model} not found: TTS intelligibility will not be scored (run egs/librispeech/alp1" \
            "through stage 10, or give --asr_model SOURCE)" >&2
        asr_model=""
    fi
fi

# Systems run in this order: the aligner first. One license for every package: LJSpeech is in the public domain,
# and with the LibriSpeech-initialized system, LibriSpeech's CC BY 4.0 covers them all.
pretrained=${librispeech}/exp/pretrain
systems="asr:conf/asr.yaml tts:conf/tts.yaml"
license=public-domain
if [ -f "${pretrained}/model.safetensors" ]; then
    systems+=" tts_pretrained:conf/tts.yaml:init=${pretrained}"
    license=CC-BY-4.0
else
    echo "run.sh: ${pretrained} not found: run egs/librispeech/alp1 first to compare with a pre-trained start" >&2
fi

# The synthesized speech is scored against the punctuated, mixed-case references with --normalize.
"${MAIN_ROOT}/recipes/alp.sh" \
    --fs 22050 --train_set train --valid_set dev --test_sets test \
    --token_type char --token_size 100 --token_symbols "" \
    --pretrain_systems "" --finetune_systems "${systems}" --tts_asr_model "${asr_model}" \
    --score_opts --normalize --model_license "${license}" \
    ${args[@]+"${args[@]}"}
