#!/usr/bin/env bash
# Synthesizes the mini_synth corpus with eSpeak NG: paired train/dev/test (English speech, English and
# French text), train_low (a small paired subset of train), unpaired speech_only and text_only sets.
set -euo pipefail
. ./path.sh

size=default   # tiny (seconds; for tests) or default (about 2 hours of audio)
seed=1
nj=2
. "${MAIN_ROOT}/recipes/utils/parse_options.sh"

alptk data prepare mini-synth --size "${size}" --seed "${seed}" --nj "${nj}" \
    --data-dir data --audio-dir "downloads/mini_synth_${size}"
