#!/usr/bin/env bash
# alp.sh: the staged template every recipe calls (egs/<corpus>/<task>/run.sh holds only its settings).
# Run from the recipe directory; outputs go to data/, dump/ and exp/ there.
#
# Usage: ./run.sh [--stage N] [--stop_stage M] [--name value ...]   (any variable below is an option)
#
# Stage  What                      Writes
#   1    data preparation          data/<set>: Kaldi dirs from local/data.sh
#   2    audio formatting          dump/raw/<set>: mono <fs> Hz audio, segments cut, speed-perturbed train set
#   3    features                  dump/fbank/<set>: Kaldi fbank ark/scp, utt2num_frames, cmvn.ark
#   4    tokenizer                 data/token_list/<type><size>: sentencepiece model and tokens.txt
#   5    pre-training targets      (reserved: offline targets such as k-means labels)
#   6    pre-training              (reserved)
#   7    fine-tuning               (reserved)
#   8    decoding                  (reserved)
#   9    scoring and RESULTS.md    (reserved)
#  10    packing into the zoo      (reserved)
set -euo pipefail

# General
stage=1                    # first stage to run
stop_stage=4               # last stage to run
nj=4                       # parallel jobs for data and feature stages
local_data_opts=""         # options for local/data.sh
# Data sets (names of directories under data/)
train_set=train            # training set (speed perturbation applies to it)
valid_set=dev              # validation set
test_sets="test"           # evaluation sets
speech_sets=""             # other speech sets to format and featurize (unpaired speech, low-resource subsets)
# Audio and features
fs=16000                   # sample rate of the formatted audio
audio_format=wav           # wav, flac or ogg
speed_perturb_factors=""   # e.g. "0.9 1.0 1.1"; the perturbed training set is <train_set>_sp
allow_pipes=false          # run Kaldi pipe entries of wav.scp (they execute shell commands)
fbank_conf=conf/fbank.yaml # Kaldi fbank options (YAML); absent file: Kaldi defaults with 80 bins
# Tokenizer
token_type=bpe             # bpe, unigram, char or word
token_size=500             # vocabulary size (an upper limit for char and word)
token_sources=""           # data dirs and/or text files to train on (default: data/<train_set>)
token_fields="text"        # tables read from data dirs, e.g. "text text.fr"
token_joint=true           # true: one vocabulary over all fields; false: one tokenizer per field
token_symbols="<mask>"     # user-defined symbols kept whole

last_stage=4               # stages after this one come with later versions of alptk

. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }
fail() { log "error: $*" >&2; exit 1; }

if [ "${stage}" -gt "${last_stage}" ]; then
    fail "stage ${stage} is not available in this version of alptk (stages 1-${last_stage} are)"
elif [ "${stop_stage}" -gt "${last_stage}" ]; then
    log "stages $((last_stage + 1))-${stop_stage} are not available yet: stopping after stage ${last_stage}"
    stop_stage=${last_stage}
fi

pipes=(); [ "${allow_pipes}" = true ] && pipes=(--allow-pipes)
train_dump=${train_set}; [ -n "${speed_perturb_factors}" ] && train_dump=${train_set}_sp
# shellcheck disable=SC2206
other_sets=(${valid_set} ${test_sets} ${speech_sets})

stage_1() {
    [ -x local/data.sh ] || fail "local/data.sh is missing or not executable"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
}

stage_2() {
    local factors=${speed_perturb_factors// /,}
    alptk data format "data/${train_set}" "dump/raw/${train_dump}" --fs "${fs}" --audio-format "${audio_format}" \
        --nj "${nj}" ${factors:+--speed-perturb "${factors}"} "${pipes[@]}"
    for set in "${other_sets[@]}"; do
        alptk data format "data/${set}" "dump/raw/${set}" --fs "${fs}" --audio-format "${audio_format}" \
            --nj "${nj}" "${pipes[@]}"
    done
}

stage_3() {
    local conf=(); [ -f "${fbank_conf}" ] && conf=(--config "${fbank_conf}")
    for set in "${train_dump}" "${other_sets[@]}"; do
        alptk features fbank "dump/raw/${set}" "dump/fbank/${set}" "${conf[@]}" --set "sample_rate=${fs}" --nj "${nj}"
    done
}

stage_4() {
    local sources fields symbols=() field
    # shellcheck disable=SC2206
    sources=(${token_sources:-data/${train_set}})
    for s in ${token_symbols}; do symbols+=(--symbol "$s"); done
    if [ "${token_joint}" = true ]; then
        fields=(); for field in ${token_fields}; do fields+=(--field "${field}"); done
        alptk tokenizer train "${sources[@]}" --out "data/token_list/${token_type}${token_size}" \
            --type "${token_type}" --vocab-size "${token_size}" "${fields[@]}" "${symbols[@]}"
    else
        for field in ${token_fields}; do
            alptk tokenizer train "${sources[@]}" --out "data/token_list/${token_type}${token_size}_${field}" \
                --type "${token_type}" --vocab-size "${token_size}" --field "${field}" "${symbols[@]}"
        done
    fi
}

titles=("" "data preparation" "audio formatting" "features" "tokenizer")
for n in $(seq "${stage}" "${stop_stage}"); do
    log "Stage ${n}: ${titles[n]}"
    start=${SECONDS}
    "stage_${n}"
    log "Stage ${n}: ${titles[n]} done in $((SECONDS - start)) s"
done
log "Successfully finished stages ${stage}-${stop_stage} in ${SECONDS} s"
