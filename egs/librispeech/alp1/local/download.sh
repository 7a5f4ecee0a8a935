#!/usr/bin/env bash
# Fetches LibriSpeech from its official host into DIR: each subset's archive (openslr.org/12), unpacked into
# DIR/LibriSpeech/<subset>/, and the LM text (openslr.org/11), kept gzipped as DIR/librispeech-lm-norm.txt.gz.
# Downloads resume where they stopped, checksums are verified, and a rerun skips what is done.
#
# Usage: local/download.sh [--subsets "train-clean-100 dev-clean ..."] [--lm_text true|false] [--base_url URL] DIR
set -euo pipefail
. ./path.sh

subsets="train-clean-100 train-clean-360 train-other-500 dev-clean dev-other test-clean test-other"
lm_text=true   # also the LM corpus text
base_url=https://www.openslr.org/resources   # or a mirror: https://us.openslr.org/resources, ...
. "${MAIN_ROOT}/recipes/utils/parse_options.sh"
if [ $# -ne 1 ]; then
    echo "usage: $0 [--subsets \"SUBSET ...\"] [--lm_text true|false] [--base_url URL] DIR" >&2
    exit 1
fi
dir=$1

# md5 checksums of openslr.org/resources/12/md5sum.txt, as public LibriSpeech downloaders quote them (e.g.
# sdrobert/pytorch-database-prep's librispeech.py; several others agree on every value).
declare -A md5=(
    [train-clean-100]=2a93770f6d5c6c964bc36631d331a522
    [train-clean-360]=c0e676e450a7ff2f54aeade5171606fa
    [train-other-500]=d1a0fd59409feb2c614ce4d30c387708
    [dev-clean]=42e2234ba48799c1f50f24a7926300a1
    [dev-other]=c8d0bcc9cca99d4f8b62fcc847357931
    [test-clean]=32fa31d27d2e1cad72775fee3f4849a9
    [test-other]=fb5a50374b501bb3bac4815ee91d3135
)
# The LM text's md5 was not found in a list published by openslr.org/11; it is the value public LibriSpeech
# preparation scripts check (sdrobert/pytorch-database-prep's librispeech.py, and a shell recipe that checks it
# with md5sum before unpacking).
lm_text_md5=c83c64c726a1aedfe65f80aa311de402

for subset in ${subsets}; do
    [ -n "${md5[${subset}]:-}" ] || { echo "$0: unknown subset ${subset}" >&2; exit 1; }
    alptk data download "${base_url}/12/${subset}.tar.gz" --dir "${dir}" --md5 "${md5[${subset}]}" --extract
done
if [ "${lm_text}" = true ]; then
    alptk data download "${base_url}/11/librispeech-lm-norm.txt.gz" --dir "${dir}" --md5 "${lm_text_md5}"
fi
