#!/usr/bin/env bash
# Downloads LJSpeech 1.1 (2.6 GB) into DIR (default: downloads) and unpacks it there as DIR/LJSpeech-1.1.
# An interrupted download resumes where it stopped, the archive is checked against its md5 before it is unpacked,
# and a rerun skips what is done.
#
# Usage: local/download.sh [DIR]
set -euo pipefail
. ./path.sh

dir=${1:-downloads}
url=https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2
# The md5 other loaders pin (pooch's known_hash "md5:..."); the archive's sha256, as torchaudio's LJSPEECH pins it,
# is be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5.
md5=c4763be9595ddfa79c2fc6eaeb3b6c8e

alptk data download "${url}" --dir "${dir}" --md5 "${md5}" --extract
