#!/usr/bin/env bash
# Prepares data/{train,dev,test} from the Free Spoken Digit Dataset (locate or download it first).
set -euo pipefail
. ./path.sh
. ./db.sh

if [ -z "${FSDD}" ]; then
    if [ -d "${MAIN_ROOT}/../shared/data/fsdd" ]; then
        FSDD=$(cd "${MAIN_ROOT}/../shared/data/fsdd" && pwd)
    else
        FSDD=downloads/free-spoken-digit-dataset
        if [ ! -d "${FSDD}/recordings" ]; then
            echo "$(date '+%Y-%m-%dT%H:%M:%S') downloading FSDD into ${FSDD}"
            rm -rf "${FSDD}"
            git clone --depth 1 https://github.com/Jakobovski/free-spoken-digit-dataset "${FSDD}"
        fi
    fi
fi
alptk data prepare fsdd --corpus-dir "${FSDD}" --data-dir data
