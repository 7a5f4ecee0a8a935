#!/usr/bin/env bash
# MuST-C is downloaded by hand (its terms are accepted on a form): this finds it, and unpacks the archive once.
set -euo pipefail
. ./path.sh
. ./db.sh

archive=${MUSTC}/MUSTC_v1.0_en-de.tar.gz
if [ -f "${archive}" ]; then
    # once: a marker beside the archive records a complete extraction; an interrupted one is redone
    alptk data download "${archive}" --dir "${MUSTC}" --extract
elif [ ! -d "${MUSTC}/en-de/data" ]; then
    cat >&2 <<MSG
local/download.sh: MuST-C v1 en-de not found in '${MUSTC}' (MUSTC in db.sh).
  MuST-C is downloaded by hand: fill in the form at https://ict.fbk.eu/must-c/ (release v1.0, English-German),
  fetch MUSTC_v1.0_en-de.tar.gz and put it in '${MUSTC}' (this script unpacks it there),
  or point MUSTC in db.sh at the folder holding its unpacked en-de/.
MSG
    exit 1
fi
[ -d "${MUSTC}/en-de/data" ] || { echo "local/download.sh: ${archive} holds no en-de/data" >&2; exit 1; }
echo "local/download.sh: MuST-C en-de found in ${MUSTC}/en-de"
