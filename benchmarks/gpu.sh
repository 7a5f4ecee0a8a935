#!/usr/bin/env bash
# The GPU rows of the README's performance table: benchmarks/train.py on mini_synth's pre-training config with the
# base preset in bf16 on one GPU and, where there are several, on all of them
# (torchrun). Prints each run's table (audio s/s, tokens/s, model TFLOP/s, MFU, peak GPU memory) and its wall time.
#
#   benchmarks/gpu.sh [STEPS [OVERRIDE ...]]     e.g. benchmarks/gpu.sh 60 streams.speech.max_frames=12000
#
# On a bare machine whose python3 has PyTorch with CUDA, it first makes tools/venv, which sees python3's packages
# and this checkout's alptk, and installs the wheels in .whl/ into it (the packages that machine lacks; nothing is
# downloaded); and it prepares mini_synth's data (stages 1-4) if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
overrides=("${@:2}")
recipe=egs/mini_synth/alp1

if [ ! -x tools/venv/bin/alptk ]; then  # a bare machine: a venv that sees python3's packages (its CUDA torch)
    python3 -m venv --without-pip tools/venv
    packages=$(tools/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    python3 -c "import site; print(*site.getsitepackages(), sep='\n')" >"${packages}/machine.pth"
    echo "${PWD}" >>"${packages}/machine.pth"  # alptk from this checkout, and its command:
    printf '#!%s\nfrom alptk.cli import main\n\nmain()\n' "${PWD}/tools/venv/bin/python" >tools/venv/bin/alptk
    chmod +x tools/venv/bin/alptk
    wheels=(.whl/*.whl)
    if [ -e "${wheels[0]}" ]; then
        python3 -m pip install -q --no-index --no-deps --target "${packages}" "${wheels[@]}"
    fi
fi
. tools/venv/bin/activate
gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "${gpus}" -eq 0 ]; then
    echo "benchmarks/gpu.sh: torch sees no CUDA device" >&2
    exit 1
fi
if [ ! -s "${recipe}/data/token_list/bpe300/tokens.txt" ] || [ ! -s "${recipe}/dump/fbank/train_low/feats.scp" ]; then
    (cd "${recipe}" && ./run.sh --stage 1 --stop_stage 4 --nj "$(nproc)")
fi

bench=(benchmarks/train.py --recipe "${recipe}" --steps "${steps}" --device cuda)
settings=(tokenizer=data/token_list/bpe300 model=base amp=bf16)
launchers=(python)
if [ "${gpus}" -gt 1 ]; then
    launchers+=("torchrun --nproc_per_node ${gpus}")
fi
for launcher in "${launchers[@]}"; do
    echo "== ${launcher} ${bench[*]} ${settings[*]} ${overrides[*]}"
    start=${SECONDS}
    ${launcher} "${bench[@]}" "${settings[@]}" "${overrides[@]}"
    echo "== $((SECONDS - start)) s"
done
