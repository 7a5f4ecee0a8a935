#!/usr/bin/env bash
# alptk against ESPnet2, the toolkit a user would pick instead, on the same model (espnet_train.yaml;
# alptk_model.yaml + alptk_asr.yaml), data (mini_synth's train set), audio per batch, threads (2) and number of
# updates; both then decode the same 100 test utterances (greedy and beam 10, CTC weight 0.3). Prints one table of
# ratios (WORK/table.md; every figure in WORK/figures.json). Run from anywhere; ESPnet2 lives in its own venv.
#
# Usage: bash benchmarks/peers/run.sh [--steps N] [--work DIR] [--espnet-venv DIR] [--skip-espnet] [--alptk-args ARGS]
#   --steps N          updates on each side (default 300; at most 60, or a multiple of 60: ESPnet2 trains epochs
#                      of 60 updates; a multiple of 10, at least 20: throughput leaves out the first 10)
#   --work DIR         where everything goes (default benchmarks/peers/work)
#   --espnet-venv DIR  ESPnet2's environment, installed there by setup_espnet.sh (default tools/espnet-venv)
#   --skip-espnet      reuse the ESPnet2 figures of an earlier run in WORK with the same --steps
#   --alptk-args ARGS  overrides of alptk_asr.yaml for alptk's training, e.g. "amp=none" (to measure a lever)
# A run that stops restarts, when rerun, at the start of the phase it was in; a rerun after a finished run starts
# afresh (but for ESPnet2's phases with --skip-espnet).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=${root}/benchmarks/peers
recipe=${root}/egs/mini_synth/alp1
steps=300 work=${here}/work espnet_venv=${root}/tools/espnet-venv skip_espnet=false alptk_args=""

log() { echo "$(date +%FT%T) (peers) $*"; }
fail() { echo "benchmarks/peers/run.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --espnet-venv) espnet_venv=$2; shift 2 ;;
        --skip-espnet) skip_espnet=true; shift ;;
        --alptk-args) alptk_args=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) fail "unknown option '$1' (see --help)" ;;
    esac
done
[[ ${steps} =~ ^[0-9]+$ ]] && [ "${steps}" -ge 20 ] && [ $((steps % 10)) -eq 0 ] ||
    fail "--steps ${steps}: give a multiple of 10, at least 20"
iters=$((steps < 60 ? steps : 60)) epochs=$((steps < 60 ? 1 : steps / 60))
[ $((iters * epochs)) -eq "${steps}" ] || fail "--steps ${steps}: give at most 60, or a multiple of 60"
mkdir -p "${work}/parts"; work=$(cd "${work}" && pwd) d=${work}/data
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2

# alptk's environment and the recipe's data after stage 4 (dump/raw: 16 kHz wavs for ESPnet2, dump/fbank: alptk's)
[ -f "${root}/tools/venv/.installed" ] || make -C "${root}" install || fail "could not install alptk (make install)"
py=${root}/tools/venv/bin/python
report() { "${py}" "${here}/report.py" "$@"; }
data_ready() {
    local set
    for set in train dev test; do
        [ -f "${recipe}/dump/raw/${set}/utt2dur" ] && [ -f "${recipe}/dump/fbank/${set}/feats.scp" ] || return 1
    done
}
if ! data_ready; then
    log "egs/mini_synth/alp1: preparing the data (./run.sh --stop_stage 4)"
    (cd "${recipe}" && ./run.sh --stop_stage 4) && data_ready ||
        fail "egs/mini_synth/alp1: no dump/raw and dump/fbank for train, dev and test, and './run.sh --stop_stage 4'" \
            "there could not make them (see above)"
fi

# what this run keeps from an earlier one in WORK
kept=$(report prune "${work}" --steps "${steps}" $([ "${skip_espnet}" = true ] && echo --keep-espnet))
[ -n "${kept}" ] && log "kept from an earlier run in ${work}: ${kept}"
espnet_done=true  # every ESPnet2 phase finished (kept)
for name in espnet_stats espnet_train espnet_greedy espnet_beam10; do
    [ -f "${work}/parts/${name}.json" ] || espnet_done=false
done
espnet_reused=false
if [ "${skip_espnet}" = true ] && [ "${espnet_done}" = true ]; then
    espnet_reused=true
    log "--skip-espnet: ESPnet2's figures are REUSED from the earlier run in ${work}"
elif [ "${skip_espnet}" = true ]; then
    log "--skip-espnet: no complete ESPnet2 figures for ${steps} steps in ${work}: running ESPnet2"
fi
if [ "${espnet_done}" = false ]; then
    bash "${here}/setup_espnet.sh" "${espnet_venv}" || fail "${espnet_venv}: ESPnet2 could not be installed (see above)"
    "${espnet_venv}/bin/python" -c "import espnet2.bin.asr_train, espnet2.bin.asr_inference, soundfile" >/dev/null 2>&1 ||
        fail "${espnet_venv}: ESPnet2 does not import; remove the directory and rerun to reinstall it"
fi
espnet() { "${espnet_venv}/bin/python" "$@"; }
timed() { /usr/bin/time -v "$@"; }

# run_phase NAME [--steps]: run phase_NAME in a fresh WORK/NAME unless an earlier run finished it (its part);
# its figures (WORK/NAME/figures.json, if any) become WORK/parts/NAME.json, tagged with the steps they depend on
run_phase() {
    local name=$1 tag=() start=${SECONDS}
    [ "${2:-}" = --steps ] && tag=(--steps "${steps}")
    [ -f "${work}/parts/${name}.json" ] && return
    log "${name}: starting"
    rm -rf "${work:?}/${name}"; mkdir -p "${work}/${name}"
    (cd "${work}/${name}" && "phase_${name}")
    report part "${work}" "${name}" "${tag[@]}" --seconds $((SECONDS - start))
    log "${name}: done in $((SECONDS - start)) s"
}

# Kaldi data dirs of the 16 kHz wavs with absolute paths (ESPnet2), the first 100 test utterances as wavs and as
# fbank (alptk), and alptk's char tokenizer (data/token_list/char in the recipe)
phase_data() {
    local set
    for set in train dev test; do
        mkdir -p "${set}"
        awk -v r="${recipe}/" '{print $1, ($2 ~ /^\// ? "" : r) $2}' "${recipe}/dump/raw/${set}/wav.scp" > "${set}/wav.scp"
        cp "${recipe}/dump/raw/${set}/"{text,utt2spk,utt2dur} "${set}/"
    done
    mkdir -p test100
    for table in wav.scp text utt2spk utt2dur; do head -n 100 "test/${table}" > "test100/${table}"; done
    (cd "${recipe}" && . ./path.sh && rm -rf data/token_list/char && alptk data subset dump/fbank/test \
        "${d}/test100_fbank" --utt-list "${d}/test100/text" >/dev/null &&
        alptk tokenizer train data/train --out data/token_list/char --type char >/dev/null)
}

espnet_common=(--token_type char --token_list "${work}/espnet_stats/tokens.txt" --use_preprocessor true
    --non_linguistic_symbols none --cleaner none --g2p none --config "${here}/espnet_train.yaml" --ngpu 0
    --train_data_path_and_name_and_type "${d}/train/wav.scp,speech,sound"
    --train_data_path_and_name_and_type "${d}/train/text,text,text"
    --valid_data_path_and_name_and_type "${d}/dev/wav.scp,speech,sound"
    --valid_data_path_and_name_and_type "${d}/dev/text,text,text")

# ESPnet2's token list and shape files, as its egs2 asr.sh makes them (stages 5 and 10)
phase_espnet_stats() {
    espnet -m espnet2.bin.tokenize_text --token_type char --input "${d}/train/text" --output tokens.txt \
        --field 2- --cleaner none --g2p none --write_vocabulary true \
        --add_symbol "<blank>:0" --add_symbol "<unk>:1" --add_symbol "<sos/eos>:-1" > tokenize.log 2>&1 ||
        fail "ESPnet2's token list failed: see ${work}/espnet_stats/tokenize.log"
    espnet -m espnet2.bin.asr_train --collect_stats true "${espnet_common[@]}" \
        --train_shape_file "${d}/train/wav.scp" --valid_shape_file "${d}/dev/wav.scp" \
        --output_dir . > stats.log 2>&1 || fail "ESPnet2's collect_stats failed: see ${work}/espnet_stats/stats.log"
    local set tokens
    tokens=$(wc -l < tokens.txt)
    for set in train valid; do
        awk -v n="${tokens}" '{print $0 "," n}' "${set}/text_shape" > "${set}/text_shape.char"
    done
}

# ESPnet2: `steps` updates as epochs of `iters` (log windows of 10 updates: see report.py)
phase_espnet_train() {
    local s=${work}/espnet_stats
    timed "${espnet_venv}/bin/python" -m espnet2.bin.asr_train "${espnet_common[@]}" \
        --train_shape_file "${s}/train/speech_shape" --train_shape_file "${s}/train/text_shape.char" \
        --valid_shape_file "${s}/valid/speech_shape" --valid_shape_file "${s}/valid/text_shape.char" \
        --max_epoch "${epochs}" --num_iters_per_epoch "${iters}" --output_dir exp > train.log 2>&1 ||
        fail "ESPnet2's training failed: see ${work}/espnet_train/train.log"
    report espnet-train train.log --train-data "${d}/train" --out figures.json
}

espnet_decode() {
    local beam=$1 exp=${work}/espnet_train/exp
    timed "${espnet_venv}/bin/python" "${here}/espnet_decode.py" --config "${exp}/config.yaml" \
        --model "${exp}/${epochs}epoch.pth" --wav-scp "${d}/test100/wav.scp" --beam "${beam}" \
        --ctc-weight 0.3 --out decode > decode.log 2>&1 || fail "ESPnet2's decoding failed: see $(pwd)/decode.log"
    report decode decode --time-log decode.log --data "${d}/test100" --out figures.json
}
phase_espnet_greedy() { espnet_decode 1; }
phase_espnet_beam10() { espnet_decode 10; }

# alptk, in the recipe directory (the config's paths are relative to it)
alptk_train() {
    local exp=$1 updates=$2 overrides
    read -ra overrides <<< "${alptk_args}"
    (cd "${recipe}" && . ./path.sh && timed alptk finetune --config "${here}/alptk_asr.yaml" --exp "${exp}" \
        --device cpu "${overrides[@]}" max_steps="${updates}" save_every="${steps}") > train.log 2>&1 ||
        fail "alptk's training failed: see $(pwd)/train.log"
}
alptk_decode() {
    local exp=$1 beam=$2 extra=("${@:3}") out
    out=$(pwd)/decode
    (cd "${recipe}" && . ./path.sh && timed alptk decode --exp "${exp}" --data "${d}/test100_fbank" \
        --out "${out}" --beam "${beam}" --ctc-weight 0.3 --device cpu) > decode.log 2>&1 ||
        fail "alptk's decoding failed: see $(pwd)/decode.log"
    report decode decode --time-log decode.log --data "${d}/test100" "${extra[@]}" --out figures.json
}
phase_alptk_train() {
    alptk_train "$(pwd)/exp" "${steps}"
    report alptk-train exp --time-log train.log --out figures.json
}
phase_alptk_greedy() { alptk_decode "${work}/alptk_train/exp" 1; }
phase_alptk_beam10() { alptk_decode "${work}/alptk_train/exp" 10; }
# the same training time as ESPnet2's: resume a copy of the experiment (checkpointed at `steps`) up to the updates
# alptk makes in that time, then decode with beam 10
phase_alptk_wall() {
    local updates
    updates=$(report wall-updates "${work}")
    if [ "${updates}" -lt "${steps}" ]; then  # no checkpoint that early: not measured
        echo "{\"updates\": ${updates}}" > figures.json
        return
    fi
    cp -r "${work}/alptk_train/exp" exp
    [ "${updates}" -eq "${steps}" ] || alptk_train "$(pwd)/exp" "${updates}"
    alptk_decode "$(pwd)/exp" 10 --updates "${updates}"
}

run_phase data
run_phase espnet_stats
for name in espnet_train espnet_greedy espnet_beam10 alptk_train alptk_greedy alptk_beam10 alptk_wall; do
    run_phase "${name}" --steps
done
report table "${work}" --steps "${steps}" $([ "${espnet_reused}" = true ] && echo --espnet-reused)
[ "${espnet_reused}" = true ] && log "ESPnet2's figures above were REUSED from an earlier run in ${work} (--skip-espnet)"
log "figures: ${work}/figures.json; table: ${work}/table.md"
