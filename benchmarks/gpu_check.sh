#!/usr/bin/env bash
# The GPU path in one script, for a machine with a CUDA device and about 10 minutes:
#   1. the CUDA-only tests (a training step that never waits for the device);
#   2. the training-step benchmark with bfloat16 autocast at the paper's sizes: CIFAR-10
#      ResNet18 at batch 128, ImageNet-64 ResNet18 (torchvision's, 1000 classes);
#   3. K = 1, 2, 4 standard trainings at once on the one GPU (--concurrent K);
#   4. the tiny workflow end to end on CUDA, with its claims table;
#   5. a GPU-sized pilot (ResNet18 on the MNIST and CIFAR-10 files of the shared data
#      folder, benchmarks/gpu_pilot_config.py), printing its claims table.
# Every step has its own time limit, so that the whole ends within 10 minutes; the script
# ends with one table: each step's status, wall time and result (images/s, verdicts).
# On a CPU it runs the quick steps at small sizes and says what it skipped and why.
#
#   benchmarks/gpu_check.sh            # logs and the steps' outputs in results/gpu_check/
#
# Environment: PYTHON (default python), GPU_CHECK_OUT (default results/gpu_check),
# PAGS_SHARED_DATA (default ../shared/data).
set -u
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python}
OUT=${GPU_CHECK_OUT:-$REPO/results/gpu_check}
SHARED=${PAGS_SHARED_DATA:-$REPO/../shared/data}
export PYTHONPATH="$REPO/workflow${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg
mkdir -p "$OUT"
ROWS=()

if [ "$($PY -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null)" = 1 ]; then
    CUDA=1
    DEVICE=$($PY -c 'import torch; print(torch.cuda.get_device_name(0))')
else
    CUDA=0
    DEVICE="CPU ($(nproc) cores), no CUDA device"
fi
echo "gpu_check on $DEVICE; logs in $OUT"

# step NAME LIMIT_S SUMMARY_FN COMMAND...: run COMMAND under a time limit, log to
# $OUT/NAME.log, and add a row with its status, wall time and SUMMARY_FN's one line.
step() {
    local name=$1 limit=$2 summary=$3
    shift 3
    echo "== $name (limit ${limit} s)"
    local t0=$SECONDS
    timeout --kill-after=15 "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$? status
    case $rc in
        0) status=ok ;;
        124 | 137) status="timed out after ${limit} s" ;;
        *) status="failed (exit $rc)" ;;
    esac
    ROWS+=("$name|$status|$((SECONDS - t0))|$($summary "$OUT/$name.log")")
    tail -n 3 "$OUT/$name.log" | sed 's/^/   /'
}

skip() {
    echo "== $1: skipped ($2)"
    ROWS+=("$1|skipped|0|$2")
}

# One-line summaries of a step's log.
tests_summary() { grep -E "passed|skipped|failed|error" "$1" | tail -n 1 | tr -d '='; }
bench_summary() {
    awk '$1 == "standard" && $3 ~ /^[0-9.]+$/ {s = "standard " $3 " images/s"}
         $1 == "pgd" && $4 ~ /^[0-9.]+$/ {s = s ", pgd k=" substr($2, 3) " " $4 " images/s"}
         $1 == "ratio" && $2 == "contiguous" {layout = ", channels-last " $5 "x contiguous"}
         END {print s layout}' "$1"
}
concurrent_summary() {
    awk '/standard trainings:/ {k = $0} $1 == "standard" && $3 ~ /^[0-9.]+$/ {one = "1 training: " $3 " images/s"}
         END {print (k != "" ? k : one)}' "$1"
}
# the claims' verdict counts, and the device the run's trainings logged
claims_summary() {
    local logs
    case $(basename "$1" .log) in
        tiny_workflow) logs=$TINY/work/results/logs ;;
        *) logs=$PILOT/work/results/logs ;;
    esac
    local devices
    devices=$(grep -rhoE "^.*training .* on [a-z]+" "$logs" 2>/dev/null | grep -oE "[a-z]+$" | sort -u | paste -sd, -)
    echo "$(grep -E "^Claims:" "$1" | tail -n 1) trained on: ${devices:-none}"
}

# 1. CUDA-only tests (on a CPU they report themselves skipped).
step cuda_tests 120 tests_summary \
    "$PY" -m pytest -q -p no:cacheprovider tests/test_train.py -k "never_waits_for_the_device"

# 2. and 3. The training step at the paper's sizes, and K trainings at once.
if [ "$CUDA" = 1 ]; then
    step bench_cifar10_resnet18_b128 90 bench_summary \
        "$PY" benchmarks/train_step.py --arch resnet18 --batch-size 128 --side 32 --classes 10 --amp \
        --objectives standard gnorm smooth randsmooth pgd --pgd-steps 10 --repeats 3 --steps 5
    step bench_imagenet64_resnet18_b1024 90 bench_summary \
        "$PY" benchmarks/train_step.py --arch resnet18_imagenet --batch-size 1024 --side 64 --classes 1000 --amp \
        --objectives standard pgd --pgd-steps 3 --repeats 2 --steps 3
    step concurrent_k1 45 concurrent_summary \
        "$PY" benchmarks/train_step.py --arch resnet18 --batch-size 128 --amp --objectives standard --repeats 2 --steps 20
    for k in 2 4; do
        step "concurrent_k$k" 75 concurrent_summary \
            "$PY" benchmarks/train_step.py --arch resnet18 --batch-size 128 --amp --objectives standard \
            --repeats 1 --steps 20 --concurrent "$k"
    done
else
    skip bench_paper_sizes "needs CUDA: a CIFAR-10 ResNet18 step at batch 128 takes seconds on a CPU core"
    step bench_cpu_small_cnn 120 bench_summary \
        "$PY" benchmarks/train_step.py --arch small_cnn --width 8 --batch-size 64 --side 28 --channels 1 \
        --objectives standard pgd --pgd-steps 2 --repeats 1 --steps 2 --threads 1
    step concurrent_k2_cpu 120 concurrent_summary \
        "$PY" benchmarks/train_step.py --arch small_cnn --width 8 --batch-size 64 --side 28 --channels 1 \
        --objectives standard --repeats 1 --steps 5 --threads 1 --concurrent 2
    skip concurrent_k4 "needs CUDA: K trainings share one GPU; this CPU has $(nproc) cores"
fi

# 4. The tiny workflow (the tests' distractor config) end to end, with its claims.
TINY=$OUT/tiny
rm -rf "$TINY" && mkdir -p "$TINY/work"
"$PY" -c "import sys; sys.path.insert(0, 'tests'); from workflow_helpers import tiny_config, write_config; write_config(sys.argv[1], tiny_config())" \
    "$TINY/config.yaml"
export PY REPO TINY PILOT
tiny_workflow() {
    "$PY" -m snakemake -s "$REPO/Snakefile" --directory "$TINY/work" --configfile "$TINY/config.yaml" \
        --replace-workflow-config --cores "$(nproc)" all claims && cat "$TINY/work/results/claims.md"
}
export -f tiny_workflow
step tiny_workflow "$([ "$CUDA" = 1 ] && echo 120 || echo 300)" claims_summary bash -c tiny_workflow

# 5. The GPU-sized pilot, with its claims table.
PILOT=$OUT/pilot
if [ "$CUDA" != 1 ]; then
    skip gpu_pilot "needs CUDA: ResNet18 on the real data sets; on a CPU run the pilot profile (docs/pilot.md)"
elif ! "$PY" benchmarks/gpu_pilot_config.py --shared "$SHARED" --root "$PILOT/data" --out "$PILOT/config.yaml" \
    >"$OUT/gpu_pilot_config.log" 2>&1; then
    skip gpu_pilot "$(tail -n 1 "$OUT/gpu_pilot_config.log")"
else
    mkdir -p "$PILOT/work"
    gpu_pilot() {
        "$PY" -m snakemake -s "$REPO/Snakefile" --directory "$PILOT/work" --configfile "$PILOT/config.yaml" \
            --replace-workflow-config --cores "$(nproc)" --keep-going claims && cat "$PILOT/work/results/claims.md"
    }
    export -f gpu_pilot
    # what is left of the 10 minutes, less a margin for the table
    left=$((570 - SECONDS))
    if [ "$left" -lt 60 ]; then
        skip gpu_pilot "no time left of the 10 minutes"
    else
        step gpu_pilot "$left" claims_summary bash -c gpu_pilot
    fi
fi

echo
echo "gpu_check on $DEVICE, $SECONDS s in all"
{
    echo "step|status|seconds|result"
    printf '%s\n' "${ROWS[@]}"
} | column -t -s '|'
for name in tiny_workflow gpu_pilot; do
    if [ -f "$OUT/$name.log" ] && grep -q "^Claims:" "$OUT/$name.log"; then
        echo
        echo "claims of $name:"
        sed -n '/^Claims:/,$p' "$OUT/$name.log"
    fi
done
