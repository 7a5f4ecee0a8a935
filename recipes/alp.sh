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
#   6    pre-training              exp/<name> for each pretrain_systems entry: checkpoints, logs, curves.png,
#                                  model.safetensors; exp/lm
#                                  when lm_config names a language model config
#   7    fine-tuning               exp/<system> for each finetune_systems entry
#   8    decoding                  exp/<system>/decode_<test set>_<options>: hypotheses, audio or embeddings,
#                                  decode.yaml (decodings with other options go to other directories)
#   9    scoring and RESULTS.md    result.json + result.md per decode dir; RESULTS.md and RESULTS.json here
#  10    packing into the zoo      zoo/<corpus>_<recipe>_<system> and .tar.gz: one package per system
#  11    labelled-data curve       only when asked (--stage 11): for each curve_sizes N, dump/fbank/<train_set>_curveN
#                                  and exp/curveN_pretrained and exp/curveN_scratch, decoded and scored; the curve
#                                  (table and RESULTS.curve.png) in RESULTS.md
set -euo pipefail

# General
stage=1                    # first stage to run
stop_stage=100             # last stage to run (default: 10; stage 11 runs only when asked: --stage 11)
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
pretrain_systems="pretrain:conf/pretrain.yaml"  # "name:config[:key=value,...] ...": exp/<name> trained by
                           # `alptk pretrain` (in order: one may start from another); empty: no pre-training
pretrain_args=""           # overrides for every pre-training, after its own, e.g. "max_steps=2000 optim.lr=5e-4"
lm_config=""               # a language model config (task lm) on unpaired text: stage 6 trains exp/lm on it
lm_args=""                 # its config overrides
kmeans_clusters=0          # > 0: stage 5 fits k-means targets (use with masked_speech quantizer: kmeans)
kmeans_sets=""             # feature sets to cluster (default: the first of speech_sets)
# Fine-tuning, decoding, scoring
finetune_systems=""        # "name:config[:key=value,...] ...": exp/<name> trained by `alptk finetune` (in order;
                           # a comma within [a,list] stays in its value)
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
# Labelled-data curve (stage 11): each size fine-tuned from exp/<curve_init> and from scratch on the same subset
curve_sizes=""             # labelled utterances of each point, e.g. "120 300 600 1200" (empty: no curve)
curve_steps=""             # fine-tuning updates of each point, one per size (finetune_args come first: these win)
curve_config=""            # fine-tuning config; the data of its paired streams becomes the point's subset
curve_base=""              # a subset of train_set whose utterances every point begins with, e.g. train_low when
                           # pre-training saw its labels: the pre-trained system has then seen exactly N. The rest
                           # of train_set follows in a fixed pseudo-random order, so each subset holds the smaller
                           # ones (with speed perturbation they are of <train_set>_sp, whose copies count too)
curve_init=pretrain        # the pre-trained experiment: exp/<curve_init>
curve_scratch_steps=""     # more updates for the scratch system, which stops after 2 validations without a new
                           # best (default: exp/<curve_init>'s max_steps: it also gets pre-training's compute)
# Devices (stages 6-8): torchrun launches one process per GPU, on each of num_nodes machines
ngpu=1                     # GPUs per node: 0 = CPU; 1 = one GPU if there is one, else CPU; N > 1 = DDP over N
                           # (with --cmd slurm: ngpu > 0 requests that many GPUs per node from Slurm)
num_nodes=1                # machines; run the same command on each with its --node_rank (--cmd slurm: srun does)
node_rank=0                # (unused with --cmd slurm)
master_addr=localhost      # address of node 0 (multi-node; --cmd slurm: the allocation's first node)
master_port=29500

last_stage=11              # stages after this one come with later versions of alptk
last_unasked_stage=10      # a run without --stop_stage ends here: the later stages run only when asked for

. "$(dirname "${BASH_SOURCE[0]}")/utils/parse_options.sh"

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (${0##*/}) $*"; }
fail() { log "error: $*" >&2; exit 1; }

if [ "${stage}" -gt "${last_stage}" ]; then
    fail "stage ${stage} is not available in this version of alptk (stages 1-${last_stage} are)"
elif [ "${stop_stage}" -eq 100 ]; then  # the default: up to the last unasked stage, or the one --stage asks for
    stop_stage=$(( stage > last_unasked_stage ? stage : last_unasked_stage ))
elif [ "${stop_stage}" -gt "${last_stage}" ]; then
    log "stages $((last_stage + 1))-${stop_stage} are not available yet"
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

# shellcheck disable=SC2206
pretrainings=(${pretrain_systems}) systems=(${finetune_systems})
system_name() { echo "${1%%:*}"; }

train_system() {  # `alptk $1` (pretrain or finetune) of exp/$2 with config $3 and the overrides after them
    local command=$1 name=$2 config=$3; shift 3
    [ -f "${config}" ] || fail "${config}: no training config (system ${name})"
    log "training ${name} (alptk ${command}, ${config}${*:+, $*})"
    launch "${command}" --config "${config}" --exp "exp/${name}" "${paths[@]}" "$@"
}

train_systems() {  # `alptk $1` of each "name:config[:key=value,...]" entry after it, in order, with $1's args
    local command=$1 entry name rest config overrides args
    shift
    args=${finetune_args}; [ "${command}" = pretrain ] && args=${pretrain_args}
    for entry in "$@"; do
        name=${entry%%:*}; rest=${entry#*:}; config=${rest%%:*}; overrides=""
        [ "${rest}" != "${config}" ] && overrides=${rest#*:}
        # commas separate overrides, except within a [list]
        overrides=$(sed -E ':a;s/(\[[^],]*),([^]]*\])/\1\x01\2/;ta;s/,/ /g;s/\x01/,/g' <<<"${overrides}")
        # shellcheck disable=SC2086
        train_system "${command}" "${name}" "${config}" ${overrides} ${args}
    done
}

stage_6() {
    if [ -z "${pretrain_systems}" ] && [ -z "${lm_config}" ]; then
        log "nothing to do: this recipe does not pre-train (pretrain_systems and lm_config are empty)"
        return
    fi
    train_systems pretrain "${pretrainings[@]}"
    if [ -n "${lm_config}" ]; then
        [ -f "${lm_config}" ] || fail "${lm_config}: no language model config"
        log "training the language model exp/lm (${lm_config})"
        # shellcheck disable=SC2086
        launch pretrain --config "${lm_config}" --exp exp/lm "${paths[@]}" ${lm_args}
    fi
}

stage_7() {
    train_systems finetune "${systems[@]}"
}

lm_fused() {  # is system $1 decoded with the language model?
    [ -n "${lm_config}" ] && [[ " ${lm_systems} " == *" $1 "* ]]
}

decode_systems() {  # the pre-trained models (zero-shot retrieval) and every fine-tuned system
    local entry; for entry in "${pretrainings[@]}" "${systems[@]}"; do system_name "${entry}"; done
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

decode_all() {  # decode every test set with each system given, decode_nj decodings at once
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
    for name in "$@"; do
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

stage_8() {
    # the last systems first: they tend to take longest (TTS synthesizes, then transcribes), and so finish together
    # shellcheck disable=SC2046
    decode_all $(decode_systems | tac)
}

score_systems() {  # score every decoding of the test sets by each system given, whatever its options
    local name set dir dirs=()
    for name in "$@"; do
        for set in ${test_sets}; do
            for dir in "exp/${name}/decode_${set}"_*/; do
                [ -f "${dir}decode.yaml" ] && dirs+=("${dir%/}")
            done
        done
    done
    if [ "${#dirs[@]}" -gt 0 ]; then
        # shellcheck disable=SC2086
        alptk score "${dirs[@]}" ${score_opts}
    fi
}

curve_systems() {  # the two systems of each point of the labelled-data curve
    local size
    for size in ${curve_sizes}; do echo "curve${size}_pretrained curve${size}_scratch"; done
}

write_results() {  # RESULTS.md and RESULTS.json: every system, and the curve of those of its systems scored
    local name exps=() curve=()
    for name in $(decode_systems); do exps+=("exp/${name}"); done
    [ -n "${lm_config}" ] && exps+=(exp/lm)
    for name in $(curve_systems); do
        compgen -G "exp/${name}/decode_*/result.json" >/dev/null && curve+=(--curve "exp/${name}")
    done
    alptk results "${exps[@]}" "${curve[@]}" --out RESULTS.md
    cat RESULTS.md
}

stage_9() {
    # shellcheck disable=SC2046
    score_systems $(decode_systems)
    write_results
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

curve_subsets() {  # dump/fbank/<train_set>_curve<N>: curve_base's utterances, then the others in a fixed order
    local order=dump/fbank/${train_set}_curve_order total base=0 size
    [ -f "dump/fbank/${train_dump}/feats.scp" ] || fail "dump/fbank/${train_dump}: no features (run stages 1-3)"
    [ -z "${curve_base}" ] || [ -f "data/${curve_base}/text" ] || fail "curve_base: data/${curve_base}/text is missing"
    # shellcheck disable=SC2016
    python -c 'import random, sys
train, base = ([line.split()[0] for line in open(path)] if path else [] for path in sys.argv[1:])
if set(base) - set(train):
    sys.exit(f"curve_base: {sys.argv[2]}: {min(set(base) - set(train))} is not in the training set {sys.argv[1]}")
rest = sorted(set(train) - set(base))
random.Random(1).shuffle(rest)
print(*base, *rest, sep="\n")' "dump/fbank/${train_dump}/feats.scp" "${curve_base:+data/${curve_base}/text}" \
        >"${order}"
    total=$(wc -l <"${order}")
    [ -n "${curve_base}" ] && base=$(wc -l <"data/${curve_base}/text")
    for size in ${curve_sizes}; do
        [ "${size}" -le "${total}" ] ||
            fail "curve_sizes: ${size} is more than the ${total} utterances of dump/fbank/${train_dump}"
        [ "${size}" -ge "${base}" ] ||
            fail "curve_sizes: ${size} is fewer than the ${base} of curve_base ${curve_base}, all seen in pre-training"
    done
    for size in ${curve_sizes}; do
        alptk data subset "dump/fbank/${train_dump}" "dump/fbank/${train_set}_curve${size}" \
            --utt-list <(head -n "${size}" "${order}")
    done
}

stage_11() {
    if [ -z "${curve_sizes}" ]; then
        log "nothing to do: curve_sizes is empty"
        return
    fi
    local sizes steps streams stream scratch_steps i data
    # the curve measures the acoustic model alone: decode_config's search for each system, no language model
    local lm_systems=""
    read -ra sizes <<<"${curve_sizes}"
    read -ra steps <<<"${curve_steps}"
    [[ " ${curve_sizes} ${curve_steps} " =~ ^( +[1-9][0-9]*)+\ +$ ]] ||
        fail "curve_sizes and curve_steps: expected positive whole numbers, got '${curve_sizes}' and '${curve_steps}'"
    [ "${#steps[@]}" -eq "${#sizes[@]}" ] ||
        fail "curve_steps: ${#steps[@]} numbers for the ${#sizes[@]} of curve_sizes (one per size)"
    [ -f "${curve_config}" ] || fail "curve_config='${curve_config}': no fine-tuning config"
    streams=$(python -c 'import sys, yaml
print(*(n for n, s in yaml.safe_load(open(sys.argv[1]))["streams"].items() if s["kind"] == "paired"))' \
        "${curve_config}" 2>/dev/null) || fail "${curve_config}: not a fine-tuning config with streams"
    [ -n "${streams}" ] || fail "${curve_config}: no paired stream to train on the curve's subsets"
    curve_subsets
    [ -f "exp/${curve_init}/train.yaml" ] || fail "exp/${curve_init}: no pre-trained experiment (curve_init)"
    scratch_steps=${curve_scratch_steps:-$(sed -n 's/^max_steps: //p' "exp/${curve_init}/train.yaml")}
    [[ "${scratch_steps}" =~ ^[0-9]+$ ]] || fail "curve_scratch_steps: expected a whole number, got '${scratch_steps}'"
    for i in "${!sizes[@]}"; do
        data=()
        for stream in ${streams}; do data+=("streams.${stream}.data=[dump/fbank/${train_set}_curve${sizes[i]}]"); done
        # shellcheck disable=SC2086
        train_system finetune "curve${sizes[i]}_pretrained" "${curve_config}" ${finetune_args} "${data[@]}" \
            "init=exp/${curve_init}" "max_steps=${steps[i]}"
        # shellcheck disable=SC2086
        # from scratch: the feature statistics of the whole training set (a subset has none of its own; the
        # pre-trained system keeps its model's)
        train_system finetune "curve${sizes[i]}_scratch" "${curve_config}" ${finetune_args} "${data[@]}" \
            init=null "cmvn=dump/fbank/${train_dump}/cmvn.ark" "max_steps=$((steps[i] + scratch_steps))" patience=2
    done
    # shellcheck disable=SC2046
    decode_all $(curve_systems)
    # shellcheck disable=SC2046
    score_systems $(curve_systems)
    write_results
}

titles=("" "data preparation" "audio formatting" "features" "tokenizer" "pre-training targets" "pre-training"
    "fine-tuning" "decoding" "scoring and RESULTS.md" "packing into the zoo" "labelled-data curve")
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
