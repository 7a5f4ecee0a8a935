#!/usr/bin/env bash
# FSDD digits: real 8 kHz recordings of 6 speakers, resampled to 16 kHz; takes 0-4 are the test set.
set -euo pipefail
. ./path.sh

"${MAIN_ROOT}/recipes/alp.sh" \
    --train_set train --valid_set dev --test_sets test \
    --speed_perturb_factors "0.9 1.0 1.1" \
    --token_type char --token_size 40 --token_symbols "" \
    --pretrain_config "" \
    "$@"
