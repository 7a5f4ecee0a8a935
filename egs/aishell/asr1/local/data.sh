#!/usr/bin/env bash
# Prepares data/{train,dev,test} from AISHELL-1 (downloading it first when db.sh leaves AISHELL empty). Audio
# without a transcript line (and transcript lines without audio) are left out: counted in the log and listed in
# data/local/untranscribed.txt (and data/local/no_audio.txt).
set -euo pipefail
. ./path.sh
. ./db.sh

if [ -z "${AISHELL}" ]; then
    AISHELL=downloads
    local/download.sh "${AISHELL}"
fi
alptk data prepare aishell --corpus-dir "${AISHELL}" --data-dir data --skip-unpaired
