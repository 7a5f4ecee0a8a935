#!/usr/bin/env bash
# mini_synth/alp1, the default recipe: a corpus it synthesizes itself (eSpeak NG, English speech with
# French translations), so it runs anywhere with nothing to download. `./run.sh --size tiny` for a quick run.
set -euo pipefail
. ./path.sh

size=default   # corpus size: tiny or default
# Fine-tuned systems (name:config[:overrides]). asr_low and asr_low_scratch see the same 120 labelled
# utterances; the scratch one may train as long as pre-training and fine-tuning together (700 + 200 updates),
# and stops when its dev token error has not improved for 2 validations.
systems="asr:conf/finetune_asr.yaml
    asr_low:conf/finetune_asr_low.yaml
    asr_low_scratch:conf/finetune_asr_low.yaml:init=null,max_steps=900,patience=2
    st:conf/finetune_st.yaml
    tts:conf/finetune_tts.yaml"
# The English systems (and the ASR transcription of TTS) fuse a language model of the unpaired text (conf/lm.yaml)
# into their search with conf/decode_lm.yaml's weights; ST decodes with conf/decode.yaml. ST starts from the ASR
# system, TTS takes its durations from it.
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
    --finetune_systems "${systems}" --tts_asr_system asr \
    --lm_config conf/lm.yaml --lm_systems "asr asr_low asr_low_scratch tts" \
    --model_license Apache-2.0 \
    ${args[@]+"${args[@]}"}
