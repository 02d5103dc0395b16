#!/usr/bin/env bash
# The GPU checks and long runs, prepared to fit a short loan of a CUDA machine.
#
#   bash benchmarks/gpu_session.sh check   # 188 s on an H200: CUDA, bf16, speed rows, probes
#   bash benchmarks/gpu_session.sh train   # 331 s (sizes in docs/gpu.md): long runs side by side
#   bash benchmarks/gpu_session.sh stretch # 457 s on an H200: four wide ResNets at once, averaged
#   bash benchmarks/gpu_session.sh speed   # issue 25, not yet run on a GPU (sized for ~8 min):
#                                          # dcgan and lite s/epoch, the 94% and 95% speedruns,
#                                          # the 96.5% single-model stretch (gpu_speedrun.py)
#
# Data and feature networks travel in ./device-data (git-ignored):
#   device-data/fashion-mnist   the four IDX .gz files (a copy of ../shared/data/fashion-mnist)
#   device-data/fid-cnn         the classifier run whose features the training-time FID uses
#   device-data/cnn-narrow      the classifier run that scores GANs (features, agreement)
# Logs and results go to $OUT (default ./gpu-out); runs to $RUNS (default /tmp/gpu-runs).
# `train` reads its sizes from the environment (defaults below), so they can be set from
# what `check` measured without editing this file. DEVICE=cpu QUICK=1 runs both modes as a
# tiny dry run on a machine without a GPU (to check this script, not to measure; PROBES=""
# skips the wide-ResNet probes, slow on a CPU): DEVICE=cpu QUICK=1 bash ... speed.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-out}
RUNS=${RUNS:-/tmp/gpu-runs}
DATA=device-data/fashion-mnist
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 FASHIONLAB_DATA=$PWD/$DATA
FL="$PY -m fashionlab.cli"
DEV=${DEVICE:-cuda}
if [ -n "${QUICK:-}" ]; then  # dry run: a few steps of everything
  CAP=(--steps-per-epoch 3); BUDGET=2; N=(--n 200 --kid-subset-size 50); CAS=400; BATCHES=3
else
  CAP=(); BUDGET=12; N=(--n 2000 --kid-subset-size 500); CAS=5000; BATCHES=100
fi
SECONDS=0

step() {  # step NAME TIMEOUT CMD...: run one step with a time limit; a failure is reported
  local name=$1 limit=$2
  shift 2
  echo "=== [$SECONDS s] $name"
  timeout "$limit" "$@"
  local rc=$?
  echo "=== [$SECONDS s] $name: exit $rc"
}

check() {
  step "environment" 60 bash -c "nvidia-smi -L; nproc; $PY - <<'EOF'
import torch
if not torch.cuda.is_available():
    raise SystemExit('no CUDA GPU')
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())
a = torch.randn(4096, 4096, device='cuda')
b = torch.randn(4096, 4096, device='cuda')
ref = (a.double() @ b.double())
for dtype in (torch.float32, torch.bfloat16):
    out = (a.to(dtype) @ b.to(dtype)).double()
    print(dtype, 'relative error', ((out - ref).norm() / ref.norm()).item())
with torch.autocast('cuda', dtype=torch.bfloat16):
    print('autocast matmul dtype', (a @ b).dtype)
EOF"
  step "device tests" 120 $PY -m pytest -q -p no:cacheprovider tests/test_device.py
  step "classifier speed (cnn, $DEV)" 120 $PY benchmarks/classifier_speed.py --mode cnn \
    --device $DEV --cnn-batches $BATCHES --rounds 3 --threads 4 --data-dir $DATA
  step "GAN speed ($DEV)" 120 $PY benchmarks/gan_speed.py --device $DEV --steps $((BATCHES / 2)) --rounds 3 \
    --threads 4 --data-dir $DATA
  for name in ${PROBES-wrn-16-4 wrn-16-8}; do
    step "probe $name ($BUDGET s of training)" 120 $PY benchmarks/classifier_accuracy.py \
      --recipe gpu --only $name --budget $BUDGET --threads 4 --data-dir $DATA --out "$RUNS/probe"
  done
  step "probe figures on $DEV (mlp, 1 epoch)" 120 $FL train classifier --model mlp --epochs 1 \
    --batch-size 256 --device $DEV --out "$RUNS/probe/mlp"
  step "probe cgan (2 epochs x 200 steps, FID on $DEV)" 120 $FL train gan --model cgan \
    --epochs 2 --steps-per-epoch ${CAP[1]:-200} --fid-every 1 \
    --fid-classifier device-data/fid-cnn --device $DEV --out "$RUNS/probe/cgan"
  step "probe dcgan fp32 (1 epoch x 235 steps)" 120 $FL train gan --model dcgan --epochs 1 \
    --precision fp32 "${CAP[@]}" --device $DEV --no-figures --out "$RUNS/probe/dcgan"
  step "probe score with CAS on $DEV" 180 $FL score "$RUNS/probe/cgan" --best \
    --classifier device-data/cnn-narrow "${N[@]}" --cas-samples $CAS --cas-fresh \
    --cas-epochs 2 --device $DEV
  echo "check done in $SECONDS s"
}

score() {  # score RUN [options]: the issue-5 metrics, 10,000 generated vs the test set
  echo "=== score $1"
  timeout 240 $FL score "$@" --classifier device-data/cnn-narrow --device $DEV --json \
    --out "$1/score.json"
}

conditional_gans() {  # two conditional GANs side by side; the lower training-set FID is scored
  local epochs=$1 wide_epochs=$2 limit=$3
  timeout $limit $FL train gan --model cgan --epochs "$epochs" --fid-every 1 \
    --fid-classifier device-data/fid-cnn --checkpoint-every 10 --device $DEV "${CAP[@]}" \
    --out "$RUNS/cgan" > "$RUNS/cgan.log" 2>&1 &
  local first=$!
  timeout $limit $FL train gan --model cgan --model-arg g_width=256 --model-arg d_width=128 \
    --epochs "$wide_epochs" --fid-every 1 --fid-classifier device-data/fid-cnn \
    --checkpoint-every 10 --device $DEV "${CAP[@]}" --out "$RUNS/cgan-wide" \
    > "$RUNS/cgan-wide.log" 2>&1
  wait $first
  tail -n 4 "$RUNS/cgan.log" "$RUNS/cgan-wide.log"
  # The choice uses only the FID logged during training (2,000 generated vs 2,000 training
  # images), never the test set; the chosen run alone gets the CAS.
  local chosen
  chosen=$($PY - "$RUNS" <<'EOF'
import json, sys
from pathlib import Path
best = {}
for name in ("cgan", "cgan-wide"):
    path = Path(sys.argv[1]) / name / "metrics.jsonl"
    rows = [json.loads(line) for line in path.open()] if path.is_file() else []
    fids = [row["fid"] for row in rows if "fid" in row]
    best[name] = min(fids) if fids else float("inf")
    print(f"{name}: {len(rows)} epochs, best training-set FID {best[name]}", file=sys.stderr)
print(min(best, key=best.get))
EOF
)
  echo "chosen on training-set FID: $chosen"
  score "$RUNS/$chosen" --best --cas-samples $((CAS * 12)) --cas-fresh --cas-real-baseline
  for name in cgan cgan-wide; do
    [ "$name" = "$chosen" ] || score "$RUNS/$name" --best --no-cas
  done
}

train() {
  # Sizes (environment): the classifier candidates and their wall-clock training budget;
  # the reference DCGAN's epochs (fp32, as on a CPU); the conditional GANs' epochs.
  local wrn=${WRN-wrn-16-4} budget=${WRN_BUDGET:-330}
  local dcgan_epochs=${DCGAN_EPOCHS:-50} cgan_epochs=${CGAN_EPOCHS:-60}
  local wide_epochs=${CGAN_WIDE_EPOCHS:-40} limit=${LIMIT:-520}
  local pids=()
  for name in $wrn; do
    timeout $limit $PY benchmarks/classifier_accuracy.py --recipe gpu --only $name \
      --budget "$budget" --threads 3 --data-dir $DATA --out "$RUNS/classifier" \
      > "$OUT/$name.log" 2>&1 &
    pids+=($!)
  done
  ( timeout $limit $FL train gan --model dcgan --epochs "$dcgan_epochs" --precision fp32 \
      --fid-every 5 --fid-classifier device-data/fid-cnn --checkpoint-every 10 --device $DEV \
      "${CAP[@]}" --out "$RUNS/dcgan50" \
    && score "$RUNS/dcgan50" --no-cas ) > "$OUT/dcgan50.log" 2>&1 &
  pids+=($!)
  conditional_gans "$cgan_epochs" "$wide_epochs" "$limit" > "$OUT/cgan.log" 2>&1 &
  pids+=($!)
  wait "${pids[@]}"
  echo "all jobs ended after $SECONDS s"
  # Each run comes back as an archive under 15 MB (the transfer's limit per file is 16 MiB):
  # no optimizer checkpoint or discriminator, and no weights at all if they are larger.
  pack classifier classifier
  pack dcgan50 dcgan50 --exclude=generator_best.safetensors
  pack cgan cgan
  pack cgan-wide cgan-wide
  tar -czf "$OUT/logs.tar.gz" -C "$OUT" --exclude='*.tar.gz' --exclude=train.log . \
    -C "$RUNS" cgan.log cgan-wide.log
  ls -la "$OUT"
  tail -n 3 "$OUT"/*.log
}

stretch() {
  # Issue 4's stretch: an ensemble of $STRETCH members trained at once for $WRN_BUDGET s of
  # wall clock each; the device tests run beside it. Only the ensemble's test accuracy is
  # printed (members: validation only); weights stay behind (44 MB each).
  local candidate=${STRETCH:-4 x wrn-16-8} recipe=${RECIPE:-gpu} budget=${WRN_BUDGET:-400}
  $PY -m pytest -q -p no:cacheprovider tests/test_device.py > "$OUT/device-tests.log" 2>&1 &
  local tests=$!
  step "$candidate ($budget s of training each)" ${LIMIT:-540} $PY \
    benchmarks/classifier_accuracy.py --recipe "$recipe" --only "$candidate" \
    --budget "$budget" --clock wall --threads ${THREADS:-4} --data-dir $DATA \
    --out "$RUNS/stretch"
  wait $tests
  echo "device tests: $(tail -n 1 "$OUT/device-tests.log")"
  pack stretch stretch --exclude='*.safetensors'
  echo "stretch done in $SECONDS s"
}

speed() {
  # Issue 25 on one GPU: the GAN trainers' speed (extrapolated to 60,000-image epochs), then
  # the speedruns (time to 94% and 95% test accuracy, rungs chosen on validation) and one
  # long single model for the 96.5% stretch. STRETCH_BUDGET sets the stretch's seconds.
  local dry=() rounds=3 threads=4
  [ -n "${QUICK:-}" ] && dry=(--dry-run) && rounds=1 && threads=1
  step "GAN speed ($DEV)" 180 $PY benchmarks/gan_speed.py --device $DEV --steps $((BATCHES / 2)) \
    --rounds $rounds --threads $threads --data-dir $DATA
  step "speedruns 94% and 95%, stretch ($DEV)" ${LIMIT:-480} $PY benchmarks/gpu_speedrun.py \
    --device $DEV --data-dir $DATA --stretch --stretch-budget ${STRETCH_BUDGET:-240} "${dry[@]}"
  echo "speed done in $SECONDS s"
}

pack() {  # pack NAME RUN [tar options]: $OUT/NAME.tar.gz of $RUNS/RUN
  local name=$1 run=$2
  shift 2
  [ -d "$RUNS/$run" ] || { echo "no run $run to pack"; return; }
  tar -czf "$OUT/$name.tar.gz" --exclude=checkpoint.pt --exclude=discriminator.safetensors \
    "$@" -C "$RUNS" "$run"
  if [ "$(stat -c %s "$OUT/$name.tar.gz")" -gt 15000000 ]; then
    tar -czf "$OUT/$name.tar.gz" --exclude=checkpoint.pt --exclude='*.safetensors' "$@" \
      -C "$RUNS" "$run"
  fi
}

case ${1:-} in
  check) check 2>&1 | tee "$OUT/check.log" ;;
  train) train 2>&1 | tee "$OUT/train.log" ;;
  stretch) stretch 2>&1 | tee "$OUT/stretch.log" ;;
  speed) speed 2>&1 | tee "$OUT/speed.log" ;;
  *) echo "usage: $0 check|train|stretch|speed" >&2; exit 2 ;;
esac
