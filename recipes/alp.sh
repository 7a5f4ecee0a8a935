#!/usr/bin/env bash
# alp.sh: the staged template every recipe calls (egs/<corpus>/<task>/run.sh holds only its settings).
# Run from the recipe directory; outputs go to data/, dump/ and exp/ there.
#
# Usage: ./run.sh [--stage N] [--stop_stage M] [--name value ...]   (any variable below is an option)
#        ./run.sh --cmd slurm [--cmd_opts "--partition=gpu ..."]   (the same on a Slurm cluster, from a login node)
#
# Stage  What                      Writes
#   1    data preparation          data/<set>: Kaldi dirs from local/data.sh
#   2    audio formatting          dump/raw/<set>: mono <fs> Hz audio, segments cut, speed-perturbed train set
#   3    features                  dump/fbank/<set>: Kaldi fbank ark/scp, utt2num_frames, cmvn.ark
#   4    tokenizer                 data/token_list/<type><size>: sentencepiece model and tokens.txt
#   5    pre-training targets      exp/kmeans/centroids.safetensors when kmeans_clusters > 0 (else nothing to do:
#                                  masked_speech's default BEST-RQ targets need no offline step)
#   6    pre-training              exp/<pretrain_exp>: checkpoints, logs, curves.png, model.safetensors; exp/lm
#                                  when lm_config names a language model config
#   7    fine-tuning               exp/<system> for each finetune_systems entry
#   8    decoding                  exp/<system>/decode_<test set>_<options>: hypotheses, audio or embeddings,
#                                  decode.yaml (decodings with other options go to other directories)
#   9    scoring and RESULTS.md    result.json + result.md per decode dir; RESULTS.md and RESULTS.json here
#  10    packing into the zoo      zoo/<corpus>_<recipe>_<system> and .tar.gz: one package per system
set -euo pipefail

# General
stage=1                    # first stage to run
stop_stage=100             # last stage to run (default: the last there is)
nj=4                       # parallel jobs for data and feature stages
cmd=local                  # where jobs run: local (this machine), or slurm: the nj stages as Slurm array jobs,
                           # training (srun torchrun over num_nodes) and each decoding as Slurm job steps
cmd_opts=""                # sbatch/srun options with --cmd slurm, e.g. "--partition=gpu --time=24:00:00"
local_data_opts=""         # options for local/data.sh
# Data sets (names of directories under data/)
train_set=train            # training set (speed perturbation applies to it)
valid_set=dev              # validation set
test_sets="test"           # evaluation sets
speech_sets=""             # other speech sets to format and featurize (unpaired speech, low-resource subsets)
# Audio and features
fs=16000                   # sample rate of the formatted audio
audio_format=wav           # wav, flac or ogg
speed_perturb_factors=""   # e.g. "0.9 1.0 1.1"; the perturbed training set is <train_set>_sp
allow_pipes=false          # run Kaldi pipe entries of wav.scp (they execute shell commands)
fbank_conf=conf/fbank.yaml # Kaldi fbank options (YAML); absent file: Kaldi defaults with 80 bins
feats_storage=float32      # float32, or 16bit: Kaldi's two-byte compressed matrix, half the disk (read as float32)
# Tokenizer
token_type=bpe             # bpe, unigram, char or word
token_size=500             # vocabulary size (an upper limit for char and word)
token_sources=""           # data dirs and/or text files to train on (default: data/<train_set>)
token_fields="text"        # tables read from data dirs, e.g. "text text.fr"
token_joint=true           # true: one vocabulary over all fields; false: one tokenizer per field
token_symbols="<mask>"     # user-defined symbols kept whole

# Pre-training
pretrain_config=conf/pretrain.yaml  # training config (YAML); empty: this recipe does not pre-train
pretrain_exp=pretrain      # experiment name: exp/<pretrain_exp>
pretrain_args=""           # config overrides, e.g. "max_steps=2000 optim.lr=5e-4"
lm_config=""               # a language model config (task lm) on unpaired text: stage 6 trains exp/lm on it
lm_args=""                 # its config overrides
kmeans_clusters=0          # > 0: stage 5 fits k-means targets (use with masked_speech quantizer: kmeans)
kmeans_sets=""             # feature sets to cluster (default: the first of speech_sets)
# Fine-tuning, decoding, scoring
finetune_systems=""        # "name:config[:key=value,...] ...": exp/<name> trained by `alptk finetune` (in order)
finetune_args=""           # overrides for every system, after its own, e.g. "max_steps=100"
decode_config=conf/decode.yaml        # decoding options (beam, ctc_weight, ...; absent file: the defaults)
lm_decode_config=conf/decode_lm.yaml  # those of the systems decoded with exp/lm (absent: decode_config's)
decode_args=""             # overrides of both, e.g. "beam=20 nbest=5"
decode_nj=2                # decoding jobs at once (stage 8)
tts_asr_system=""          # the ASR system that transcribes synthesized speech (TTS intelligibility)
tts_asr_model=""           # or an ASR model from elsewhere: a zoo source or another recipe's experiment
lm_systems=""              # systems decoded with exp/lm fused in (a tts system: its ASR transcription)
score_opts=""              # e.g. --normalize
# Packing (stage 10)
model_license=unknown      # license of the packed weights, stated in each model card (the corpus's terms)
# Devices (stages 6-8): torchrun launches one process per GPU, on each of num_nodes machines
ngpu=1                     # GPUs per node: 0 = CPU; 1 = one GPU if there is one, else CPU; N > 1 = DDP over N
                           # (with --cmd slurm: ngpu > 0 requests that many GPUs per node from Slurm)
num_nodes=1                # machines; run the same command on each with its --node_rank (--cmd slurm: srun does)
node_rank=0                # (unused with --cmd slurm)
master_addr=localhost      # address of node 0 (multi-node; --cmd slurm: the allocation's first node)
master_port=29500

last_stage=10              # stages after this one come with later versions of alptk

. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }
fail() { log "error: $*" >&2; exit 1; }

if [ "${stage}" -gt "${last_stage}" ]; then
    fail "stage ${stage} is not available in this version of alptk (stages 1-${last_stage} are)"
elif [ "${stop_stage}" -gt "${last_stage}" ]; then
    [ "${stop_stage}" -ne 100 ] && log "stages $((last_stage + 1))-${stop_stage} are not available yet"
    stop_stage=${last_stage}
fi

utils=$(cd "$(dirname "${BASH_SOURCE[0]}")/utils" && pwd)
case "${cmd}" in
    local) ;;
    slurm) command -v sbatch >/dev/null && command -v srun >/dev/null ||
        fail "--cmd slurm: Slurm's sbatch and srun are not on PATH (run on a machine of the cluster)" ;;
    *) fail "--cmd ${cmd}: expected local or slurm" ;;
esac
export ALPTK_CMD=${cmd} ALPTK_CMD_OPTS=${cmd_opts}  # alptk runs the nj stages' jobs where these say

pipes=(); [ "${allow_pipes}" = true ] && pipes=(--allow-pipes)
train_dump=${train_set}; [ -n "${speed_perturb_factors}" ] && train_dump=${train_set}_sp
# every set besides the training set, once each (the validation set may also be a test set)
# shellcheck disable=SC2207
other_sets=($(printf '%s\n' ${valid_set} ${test_sets} ${speech_sets} | awk '!seen[$0]++'))

stage_1() {
    [ -x local/data.sh ] || fail "local/data.sh is missing or not executable"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
}

stage_2() {
    local factors=${speed_perturb_factors// /,} sets=("${other_sets[@]}") set dirs=()
    if [ -n "${factors}" ]; then
        alptk data format "data/${train_set}" "dump/raw/${train_dump}" --fs "${fs}" --audio-format "${audio_format}" \
            --nj "${nj}" --speed-perturb "${factors}" "${pipes[@]}"
    else
        sets=("${train_set}" "${sets[@]}")
    fi
    for set in "${sets[@]}"; do dirs+=("data/${set}"); done
    # one process for every set: each start costs seconds (torch's import)
    alptk data format "${dirs[@]}" --into dump/raw --fs "${fs}" --audio-format "${audio_format}" --nj "${nj}" \
        "${pipes[@]}"
}

stage_3() {
    local conf=() set dirs=()
    [ -f "${fbank_conf}" ] && conf=(--config "${fbank_conf}")
    conf+=(--storage "${feats_storage}")
    for set in "${train_dump}" "${other_sets[@]}"; do dirs+=("dump/raw/${set}"); done
    alptk features fbank "${dirs[@]}" --into dump/fbank "${conf[@]}" --set "sample_rate=${fs}" --nj "${nj}"
}

stage_4() {
    local sources fields symbols=() field
    # shellcheck disable=SC2206
    sources=(${token_sources:-data/${train_set}})
    for s in ${token_symbols}; do symbols+=(--symbol "$s"); done
    if [ "${token_joint}" = true ]; then
        fields=(); for field in ${token_fields}; do fields+=(--field "${field}"); done
        alptk tokenizer train "${sources[@]}" --out "data/token_list/${token_type}${token_size}" \
            --type "${token_type}" --vocab-size "${token_size}" "${fields[@]}" "${symbols[@]}"
    else
        for field in ${token_fields}; do
            alptk tokenizer train "${sources[@]}" --out "data/token_list/${token_type}${token_size}_${field}" \
                --type "${token_type}" --vocab-size "${token_size}" --field "${field}" "${symbols[@]}"
        done
    fi
}

# paths the shell knows, given to every training config (which holds hyper-parameters): the joint tokenizer
paths=(); [ "${token_joint}" = true ] && paths=("tokenizer=data/token_list/${token_type}${token_size}")

# alptk for one process, or torchrun for several (DDP over GPUs and nodes); with --cmd slurm, srun starts one
# torchrun agent per node (a Slurm task each), and the agents meet at the first node of the job step
launch() {
    local device=() gpus=()
    [ "${ngpu}" -eq 0 ] && device=(--device cpu)
    if [ "${cmd}" = slurm ]; then
        [ "${ngpu}" -gt 0 ] && gpus=(--gpus-per-node "${ngpu}")
        # shellcheck disable=SC2086
        srun --nodes "${num_nodes}" --ntasks "${num_nodes}" --ntasks-per-node 1 "${gpus[@]}" ${cmd_opts} \
            "${utils}/slurm_torchrun.sh" "$(( ngpu > 0 ? ngpu : 1 ))" "${master_port}" -m alptk "$@" "${device[@]}"
    elif [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then
        torchrun --nnodes "${num_nodes}" --node_rank "${node_rank}" --nproc_per_node "$(( ngpu > 0 ? ngpu : 1 ))" \
            --master_addr "${master_addr}" --master_port "${master_port}" -m alptk "$@" "${device[@]}"
    else
        alptk "$@" "${device[@]}"
    fi
}

stage_5() {
    if [ "${kmeans_clusters}" -le 0 ]; then
        log "nothing to do: masked_speech draws targets from its random-projection quantizer (kmeans_clusters=0)"
        return
    fi
    local sets dirs=() set
    # shellcheck disable=SC2206
    sets=(${kmeans_sets:-${speech_sets%% *}})
    for set in "${sets[@]}"; do dirs+=("dump/fbank/${set}"); done
    alptk features kmeans "${dirs[@]}" --out exp/kmeans/centroids.safetensors --clusters "${kmeans_clusters}"
}

stage_6() {
    if [ -z "${pretrain_config}" ] && [ -z "${lm_config}" ]; then
        log "nothing to do: this recipe does not pre-train (pretrain_config and lm_config are empty)"
        return
    fi
    if [ -n "${pretrain_config}" ]; then
        [ -f "${pretrain_config}" ] || fail "${pretrain_config}: no pre-training config"
        # shellcheck disable=SC2086
        launch pretrain --config "${pretrain_config}" --exp "exp/${pretrain_exp}" "${paths[@]}" ${pretrain_args}
    fi
    if [ -n "${lm_config}" ]; then
        [ -f "${lm_config}" ] || fail "${lm_config}: no language model config"
        log "training the language model exp/lm (${lm_config})"
        # shellcheck disable=SC2086
        launch pretrain --config "${lm_config}" --exp exp/lm "${paths[@]}" ${lm_args}
    fi
}

# shellcheck disable=SC2206
systems=(${finetune_systems})
system_name() { echo "${1%%:*}"; }

stage_7() {
    local entry name rest config overrides
    for entry in "${systems[@]}"; do
        name=${entry%%:*}; rest=${entry#*:}; config=${rest%%:*}; overrides=""
        [ "${rest}" != "${config}" ] && overrides=${rest#*:}
        [ -f "${config}" ] || fail "${config}: no fine-tuning config (system ${name})"
        log "fine-tuning ${name} (${config}${overrides:+, ${overrides}})"
        # shellcheck disable=SC2086
        launch finetune --config "${config}" --exp "exp/${name}" "${paths[@]}" ${overrides//,/ } ${finetune_args}
    done
}

lm_fused() {  # is system $1 decoded with the language model?
    [ -n "${lm_config}" ] && [[ " ${lm_systems} " == *" $1 "* ]]
}

decode_systems() {  # the pre-trained model (zero-shot retrieval) and every fine-tuned system
    [ -n "${pretrain_config}" ] && echo "${pretrain_exp}"
    local entry; for entry in "${systems[@]}"; do system_name "${entry}"; done
}

decode_one() {  # decode test set $2 with system $1, into exp/$1/decode_$2_<options>
    local config=${decode_config} extra=()
    if lm_fused "$1"; then
        [ -f "${lm_decode_config}" ] && config=${lm_decode_config}
        extra=(--lm exp/lm)
    fi
    [ -f "${config}" ] && extra+=(--config "${config}")
    if [ -n "${tts_asr_model}" ]; then
        extra+=(--transcriber "${tts_asr_model}")
    elif [ -n "${tts_asr_system}" ]; then
        extra+=(--transcriber "exp/${tts_asr_system}")
    fi
    # shellcheck disable=SC2086
    "${on_node[@]}" alptk decode --exp "exp/$1" --data "dump/fbank/$2" "${extra[@]}" "${device[@]}" ${decode_args}
}

stage_8() {
    local name set running=0 failed=0 device=() on_node=()
    [ "${ngpu}" -eq 0 ] && device=(--device cpu)  # otherwise a GPU when there is one
    if [ "${cmd}" = slurm ]; then  # each decoding a Slurm job step of one task (and one GPU if ngpu > 0)
        on_node=(srun --nodes 1 --ntasks 1)
        [ "${ngpu}" -gt 0 ] && on_node+=(--gpus 1)
        # shellcheck disable=SC2206
        on_node+=(${cmd_opts})
    fi
    # decode_nj jobs side by side, one CPU thread each: beam search is too fine-grained to use threads well
    [ "${decode_nj}" -gt 1 ] && export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    # the last systems first: they tend to take longest (TTS synthesizes, then transcribes), and so finish together
    for name in $(decode_systems | tac); do
        for set in ${test_sets}; do
            if [ "${running}" -ge "${decode_nj}" ]; then
                wait -n || failed=1
                running=$((running - 1))
            fi
            decode_one "${name}" "${set}" &
            running=$((running + 1))
        done
    done
    while [ "${running}" -gt 0 ]; do
        wait -n || failed=1
        running=$((running - 1))
    done
    [ "${failed}" -eq 0 ] || fail "decoding failed (the error is above)"
}

stage_9() {
    local name set dir dirs=() exps=()
    for name in $(decode_systems); do
        for set in ${test_sets}; do
            for dir in "exp/${name}/decode_${set}"_*/; do  # every decoding of the set, whatever its options
                [ -f "${dir}decode.yaml" ] && dirs+=("${dir%/}")
            done
        done
        exps+=("exp/${name}")
    done
    # shellcheck disable=SC2086
    [ "${#dirs[@]}" -gt 0 ] && alptk score "${dirs[@]}" ${score_opts}
    [ -n "${lm_config}" ] && exps+=(exp/lm)
    alptk results "${exps[@]}" --out RESULTS.md
    cat RESULTS.md
}

stage_10() {
    local name recipe extra config
    recipe="$(basename "$(dirname "${PWD}")")_$(basename "${PWD}")"  # egs/<corpus>/<recipe>
    for name in $(decode_systems); do
        config=${decode_config} extra=()
        if lm_fused "${name}"; then
            [ -f "${lm_decode_config}" ] && config=${lm_decode_config}
            extra=(--lm exp/lm)
        fi
        [ -f "${config}" ] && extra+=(--decode-config "${config}")
        # shellcheck disable=SC2086
        alptk zoo pack "exp/${name}" --out "zoo/${recipe}_${name}" "${extra[@]}" --results RESULTS.json \
            --license "${model_license}" ${decode_args}
    done
}

titles=("" "data preparation" "audio formatting" "features" "tokenizer" "pre-training targets" "pre-training"
    "fine-tuning" "decoding" "scoring and RESULTS.md" "packing into the zoo")
# a stage that fails or is interrupted (Slurm's SIGTERM, Ctrl-C) says how to go on, and keeps its exit status
on_exit() {
    local status=$?
    [ "${status}" -eq 0 ] || [ -z "${n:-}" ] ||
        log "Stage ${n}: ${titles[n]} ended with status ${status}; './run.sh --stage ${n}' reruns it (training" \
            "resumes from its last checkpoint)" >&2
}
trap on_exit EXIT
for n in $(seq "${stage}" "${stop_stage}"); do
    log "Stage ${n}: ${titles[n]}"
    start=${SECONDS}
    "stage_${n}"
    log "Stage ${n}: ${titles[n]} done in $((SECONDS - start)) s"
done
log "Successfully finished stages ${stage}-${stop_stage} in ${SECONDS} s"
