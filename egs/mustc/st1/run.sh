#!/usr/bin/env bash
# MuST-C v1 English->German speech translation (TED talks, about 400 h): an ASR system trained on the English
# transcripts, then the ST system started from it; BLEU on tst-COMMON and tst-HE. Needs a GPU; see README.md.
set -euo pipefail
. ./path.sh

"${MAIN_ROOT}/recipes/alp.sh" \
    --train_set train --valid_set dev --test_sets "tst-COMMON tst-HE" \
    --speed_perturb_factors "0.9 1.0 1.1" \
    --token_type bpe --token_size 8000 --token_fields "text text.de" --token_symbols "<en> <de>" \
    --pretrain_systems "" --finetune_systems "asr:conf/asr.yaml st:conf/st.yaml" \
    --model_license CC-BY-NC-ND-4.0 \
    "$@"
