#!/usr/bin/env bash
# The GPU checks (Yuma epoch, training rounds, a live CUDA miner) in one go, for a CUDA machine
# (figures in docs/yuma.md, docs/training.md and docs/live.md, "Performance" or "Measured").
# Usage: bench/gpu_check.sh [OUTDIR]   (PY=python to choose the interpreter; default python3)
# Each check is time-boxed so one hang cannot eat the others' time; logs go to OUTDIR.
set -u
OUTDIR=${1:-${OUT:-out/gpu_check}}
PY=${PY:-python3}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1
{ nvidia-smi -L; "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; } \
    2>&1 | tee "$OUTDIR/device.log"
echo "== Yuma: CUDA network year + float/exact agreement"
timeout 150 "$PY" bench/gpu_yuma.py --device cuda --full-year 2>&1 | tee "$OUTDIR/gpu_yuma.log"
echo "== training: gpu-small rounds, miners' replicas vmapped"
timeout 180 "$PY" bench/gpu_training.py --device cuda --rounds 3 2>&1 | tee "$OUTDIR/gpu_training.log"
echo "== live: a CUDA miner against a loopback coordinator"
timeout 300 "$PY" bench/gpu_live.py --device cuda --windows 3 --window-seconds 60 --put-seconds 15 \
    --others honest,poisoner 2>&1 | tee "$OUTDIR/gpu_live.log"
echo "== done"
