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
# Joint decoding with CTC weight 0.4, the best on dev for ST (BLEU 14.6 against 12.8 at 0.3). The English systems
# (and the ASR transcription of TTS) fuse a language model of the unpaired text (conf/lm.yaml) with CTC weight 0.8
# and LM weight 0.6, tuned on dev with a 500-update ASR system (11.9 % WER; 12.0-12.4 at 0.7-0.9/0.5-1.0; 22.6 without
# LM). ST starts from the ASR system, TTS takes its durations from it.
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
    --finetune_systems "${systems}" --tts_asr_system asr --ctc_weight 0.4 \
    --lm_config conf/lm.yaml --lm_systems "asr asr_low asr_low_scratch tts" \
    --lm_decode_opts "--ctc-weight 0.8 --lm-weight 0.6" \
    ${args[@]+"${args[@]}"}
