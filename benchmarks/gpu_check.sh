#!/usr/bin/env bash
# GPU check (README, "Benchmarks"): each image stage's throughput on CUDA against the bare
# forward pass of the same model at the same batch size and precision (goal: >= 70%), and
# the ImageNet preset's DAG on 5,000 generated images end to end with per-job times; one
# JSON file.  Random-weight real architectures, so nothing is downloaded.
#
#   bash benchmarks/gpu_check.sh [--device cuda|cpu] [--tiny] [--out FILE] [-- driver options]
#
# From a clean checkout on a machine with one NVIDIA GPU: about 5 minutes plus set-up, with
# a guard at 450 s for the measurements (benchmarks/gpu_check.py --budget-s).  On the CPU
# use `--device cpu --tiny` (a smoke test: about 2 CPU minutes, the same rules on small models).
#
# The Python environment, first found first used:
#   1. $CONCEPTLENS_PYTHON, when set;
#   2. .venv/bin/python (`make setup`), when it imports the project;
#   3. else a new .venv made on the machine's python3: with its site packages when that
#      python3 already has torch (the GPU image's CUDA build is kept), then
#      `pip install -e .`, from the wheels in .whl/ alone when that folder exists
#      (a machine without a package registry), else from the registry.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
device=cuda
tiny=""
out="results/gpu_check.json"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --device=*) device="${1#*=}"; shift ;;
    --tiny) tiny="--tiny"; shift ;;
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$device" in cuda|cpu) ;; *) echo "gpu_check.sh: --device cuda or cpu" >&2; exit 2 ;; esac

setup_start=$(date +%s)
# the project's heavy imports are findable (found, not imported: that takes long)
imports_project() {
  "$1" -c "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in
    ('conceptlens', 'snakemake', 'open_clip', 'pytorch_grad_cam', 'torch', 'torchvision',
     'sentence_transformers', 'weasyprint')))" 2>/dev/null
}
if [ -n "${CONCEPTLENS_PYTHON:-}" ]; then
  python="$CONCEPTLENS_PYTHON"
elif [ -x .venv/bin/python ] && imports_project .venv/bin/python; then
  python=.venv/bin/python
else
  base="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    if "$base" -c "import torch" 2>/dev/null; then
      echo "gpu_check.sh: making .venv on $base with its site packages (its torch kept)"
      "$base" -m venv --system-site-packages .venv
    else
      echo "gpu_check.sh: making .venv on $base"
      "$base" -m venv .venv
    fi
  fi
  if [ -d .whl ]; then
    .venv/bin/pip install -q --no-index --find-links .whl -e .
  else
    .venv/bin/pip install -q -e .
  fi
  python=.venv/bin/python
fi
imports_project "$python" || { echo "gpu_check.sh: $python does not import the project" >&2; exit 1; }
setup_s=$(( $(date +%s) - setup_start ))
echo "gpu_check.sh: python $python (set-up ${setup_s} s)"

if [ "$device" = cuda ]; then
  "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "gpu_check.sh: no CUDA device visible to torch (use --device cpu --tiny)" >&2; exit 1; }
fi

export PYTHONUNBUFFERED=1
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
"$python" benchmarks/gpu_check.py --device "$device" $tiny --out "$out" \
  --setup-s "$setup_s" "${extra[@]+"${extra[@]}"}"
echo "gpu_check.sh: wrote $out"
