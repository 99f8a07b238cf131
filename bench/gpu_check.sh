#!/usr/bin/env bash
# The GPU checks (Yuma epoch, training rounds, a live CUDA miner) in one go, for a CUDA machine
# (figures in docs/yuma.md, docs/training.md and docs/live.md, "Performance" or "Measured").
# Usage: bench/gpu_check.sh [OUTDIR]   (PY=python to choose the interpreter; default python3)
#        DEVICE=cpu bench/gpu_check.sh [OUTDIR]   a dry run on the CPU: the same three scripts
#        and code paths at smoke-test sizes (a few epochs, the tiny GPT, one short live window),
#        to check the script end to end before spending GPU time. Its figures are not GPU figures.
# Each check is time-boxed so one hang cannot eat the others' time; logs go to OUTDIR, and the
# script exits non-zero if any check failed or ran out of time.
set -u
OUTDIR=${1:-${OUT:-out/gpu_check}}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1
if [ "$DEVICE" = cpu ]; then
    YUMA_ARGS=(--epochs 5 --states 4)
    TRAINING_ARGS=(--rounds 1 --tiny --miners 4)
    LIVE_ARGS=(--windows 2 --window-seconds 20 --put-seconds 6 --others honest)
else
    YUMA_ARGS=(--full-year)
    TRAINING_ARGS=(--rounds 3)
    LIVE_ARGS=(--windows 3 --window-seconds 60 --put-seconds 15 --others honest,poisoner)
fi
{ if [ "$DEVICE" = cpu ]; then echo "dry run on the CPU"; else nvidia-smi -L; fi
  "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"; } \
    2>&1 | tee "$OUTDIR/device.log"
failed=0
# run NAME LIMIT_S COMMAND...: time-boxed, logged to OUTDIR/NAME.log, exit status remembered
run() {
    local name=$1 limit=$2
    shift 2
    timeout "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "!! $name exited $rc (124: over its $limit s)" | tee -a "$OUTDIR/$name.log"
        failed=1
    fi
}
echo "== Yuma: $DEVICE network year + float/exact agreement"
run gpu_yuma 150 "$PY" bench/gpu_yuma.py --device "$DEVICE" "${YUMA_ARGS[@]}"
echo "== training: gpu-small rounds, miners' replicas vmapped"
run gpu_training 180 "$PY" bench/gpu_training.py --device "$DEVICE" "${TRAINING_ARGS[@]}"
echo "== live: a $DEVICE miner against a loopback coordinator"
run gpu_live 300 "$PY" bench/gpu_live.py --device "$DEVICE" "${LIVE_ARGS[@]}"
echo "== done (failed=$failed)"
exit "$failed"
