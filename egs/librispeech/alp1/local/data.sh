#!/usr/bin/env bash
# Stage 1: LibriSpeech as Kaldi directories (downloading it first when db.sh's LIBRISPEECH is empty):
# data/<subset> for each subset (train_clean_100, ..., test_other), data/train_960 (the 960 h of training speech,
# without its text: unpaired speech for pre-training), data/dev (dev_clean + dev_other, for validation) and
# data/lm_text (the LM corpus text, a text table only). Transcripts are kept as distributed.
set -euo pipefail
. ./path.sh
. ./db.sh

subsets="train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other"
lm_text=true           # also prepare data/lm_text from librispeech-lm-norm.txt.gz
lm_text_fraction=1.0   # share of its ~40 M lines kept: evenly spaced lines (0.1: lines 10, 20, 30, ...)
. "${MAIN_ROOT}/recipes/utils/parse_options.sh"

if [ -z "${LIBRISPEECH}" ]; then
    LIBRISPEECH=downloads
    local/download.sh --subsets "${subsets}" --lm_text "${lm_text}" "${LIBRISPEECH}"
fi
options=()
for subset in ${subsets}; do options+=(--subset "${subset}"); done
if [ "${lm_text}" = true ]; then
    options+=(--lm-text "${LIBRISPEECH}/librispeech-lm-norm.txt.gz" --lm-text-fraction "${lm_text_fraction}")
fi
alptk data prepare librispeech --corpus-dir "${LIBRISPEECH}" --data-dir data "${options[@]}"
