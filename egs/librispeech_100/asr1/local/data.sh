#!/usr/bin/env bash
# Stage 1: the LibriSpeech sets this recipe needs, by the librispeech/alp1 recipe's local/data.sh (downloading
# only these subsets when db.sh's LIBRISPEECH is empty): train_clean_100, dev (dev_clean + dev_other), dev_clean,
# dev_other, test_clean, test_other. No train_960, no LM text.
set -euo pipefail
. ./path.sh
"${MAIN_ROOT}/egs/librispeech/alp1/local/data.sh" \
    --subsets "train-clean-100 dev-clean dev-other test-clean test-other" --lm_text false "$@"
