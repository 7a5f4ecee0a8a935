#!/usr/bin/env bash
# Stage 1: data/{train,dev,tst-COMMON,tst-HE} from MuST-C v1 en-de: the talks cut into their segments, English
# transcripts in `text` (lower case, no punctuation), German translations in `text.de` (as distributed).
set -euo pipefail
. ./path.sh
. ./db.sh

local/download.sh
alptk data prepare mustc --corpus-dir "${MUSTC}" --data-dir data --lang de
