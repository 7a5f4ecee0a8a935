#!/usr/bin/env bash
# Prepares data/{train,dev,test} from LJSpeech 1.1 (db.sh says where it is; else it is downloaded first): one
# speaker, LJ; the text is the normalized (third) field of metadata.csv; the last dev_size + test_size
# utterances in id order are held out, dev first, as ESPnet's egs2/ljspeech/tts1 does (its dev and eval1).
set -euo pipefail
. ./path.sh
. ./db.sh

dev_size=250   # utterances held out for dev
test_size=250  # utterances held out for test: the last ones
. "${MAIN_ROOT}/recipes/utils/parse_options.sh"

if [ -z "${LJSPEECH}" ]; then
    if [ -d "${MAIN_ROOT}/../shared/data/LJSpeech-1.1" ]; then
        LJSPEECH=$(cd "${MAIN_ROOT}/../shared/data/LJSpeech-1.1" && pwd)
    else
        local/download.sh downloads
        LJSPEECH=downloads/LJSpeech-1.1
    fi
fi
alptk data prepare ljspeech --corpus-dir "${LJSPEECH}" --data-dir data \
    --dev-size "${dev_size}" --test-size "${test_size}"
