#!/usr/bin/env bash
# Install the peer toolkit, ESPnet2, into its own virtual environment (never a dependency of alptk), with the
# same torch/torchaudio pair as alptk so that both sides run the same kernels.
# Usage: benchmarks/peers/setup_espnet.sh [VENV]   (default: tools/espnet-venv)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$root/tools/espnet-venv}
espnet_version=202511
extras="soundfile jiwer tensorboard matplotlib"  # its trainer imports tensorboard and plots with matplotlib
torch_pin=$("$root/tools/venv/bin/python" -c 'import torch, torchaudio; print(f"torch=={torch.__version__.split("+")[0]} torchaudio=={torchaudio.__version__.split("+")[0]}")' 2>/dev/null \
  || echo "torch==2.11.0 torchaudio==2.11.0")
if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "espnet==$espnet_version $torch_pin $extras" ]; then
  echo "ESPnet2 $espnet_version already installed in $venv"; exit 0
fi
python3 -m venv "$venv"
# pip 25.3 and later refuse ESPnet's dependency ci-sdr (its metadata names a git URL, for an extra ESPnet never asks for)
"$venv/bin/python" -m pip install --quiet --retries 10 "pip>=24,<25.3"
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install --quiet --retries 10 --resume-retries 10 $torch_pin \
  "espnet==$espnet_version" $extras
echo "espnet==$espnet_version $torch_pin $extras" > "$venv/.installed"
echo "ESPnet2 $espnet_version installed in $venv"
