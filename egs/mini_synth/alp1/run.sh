#!/usr/bin/env bash
# mini_synth/alp1, the default recipe: a corpus it synthesizes itself (eSpeak NG, English speech with
# French translations), so it runs anywhere with nothing to download. `./run.sh --size tiny` for a quick run.
set -euo pipefail
. ./path.sh

size=default   # corpus size: tiny or default
# Two pre-training protocols: `pretrain` (low-resource: unpaired speech and text, and the 120 pairs of train_low),
# and `pretrain_paired`, which continues it with the paired objectives on all 1200 pairs of train.
pretrainings="pretrain:conf/pretrain.yaml
    pretrain_paired:conf/pretrain_paired.yaml"
# Fine-tuned systems (name:config[:overrides]). asr, st and tts use all of train, and start from pretrain_paired
# (st through asr). asr_low and asr_low_scratch see the same 120 labelled utterances, starting from pretrain and
# from scratch; the scratch one may train as long as pre-training and fine-tuning together (700 + 200 updates),
# and stops when its dev token error has not improved for 2 validations.
systems="asr:conf/finetune_asr.yaml
    asr_low:conf/finetune_asr_low.yaml
    asr_low_scratch:conf/finetune_asr_low.yaml:init=null,max_steps=900,patience=2
    st:conf/finetune_st.yaml
    tts:conf/finetune_tts.yaml"
# The English systems (and the ASR transcription of TTS) fuse a language model of the unpaired text (conf/lm.yaml)
# into their search with conf/decode_lm.yaml's weights; ST decodes with conf/decode.yaml. TTS takes its durations
# from the ASR system.
# `./run.sh --stage 11` (not part of the default run) draws the labelled-data curve: ASR fine-tuned on 120, 300,
# 600 and 1200 labelled utterances (train_low's first) from pretrain and from scratch, decoded without the LM.
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --size=*) size=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

"${MAIN_ROOT}/recipes/alp.sh" \
    --local_data_opts "--size ${size}" \
    --train_set train --valid_set dev --test_sets test --speech_sets "train_low speech_only" \
    --token_type bpe --token_size 300 --token_sources "data/text_only data/train_low" \
    --token_fields "text text.fr" --token_symbols "<mask> <en> <fr>" \
    --pretrain_systems "${pretrainings}" --finetune_systems "${systems}" --tts_asr_system asr \
    --lm_config conf/lm.yaml --lm_systems "asr asr_low asr_low_scratch tts" \
    --model_license Apache-2.0 \
    --curve_sizes "120 300 600 1200" --curve_steps "200 400 800 1250" --curve_config conf/finetune_asr.yaml \
    --curve_base train_low --curve_init pretrain \
    ${args[@]+"${args[@]}"}
