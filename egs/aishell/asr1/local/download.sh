#!/usr/bin/env bash
# Downloads AISHELL-1 from openslr.org/resources/33 into DIR (default downloads/): data_aishell.tgz (audio and
# transcripts, 15 GB) and resource_aishell.tgz (lexicon, speaker info), resuming an interrupted download and
# checking each archive's md5 (those PaddleSpeech's dataset/aishell/aishell.py checks). Then extracts the
# per-speaker archives inside data_aishell/wav, removing each once extracted, as Kaldi's download_and_untar.sh
# does. Running it again does only what is left.
set -euo pipefail
. ./path.sh

dir=${1:-downloads}
url=https://www.openslr.org/resources/33

alptk data download "${url}/data_aishell.tgz" --dir "${dir}" --md5 2f494334227864a8a8fec932999db9d8 --extract
alptk data download "${url}/resource_aishell.tgz" --dir "${dir}" --md5 957d480a0fcac85fc18e550756f624e5 --extract

archives=("${dir}"/data_aishell/wav/*.tar.gz)
if [ -e "${archives[0]}" ]; then
    echo "$(date '+%Y-%m-%dT%H:%M:%S') extracting ${#archives[@]} per-speaker archives in ${dir}/data_aishell/wav"
    for archive in "${archives[@]}"; do
        tar -xzf "${archive}" -C "${dir}/data_aishell/wav"
        rm "${archive}"
    done
fi
