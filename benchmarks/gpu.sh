#!/usr/bin/env bash
# The GPU checks, in one go, on a CUDA machine that has PyTorch, pandas and scikit-learn
# (for instance a lent device machine; wheels of what it lacks can be installed first):
# the CUDA tests, then engine throughput on the GPU and, for comparison, on its CPUs.
#   benchmarks/gpu.sh [california_housing.csv]   (from the repository root)
set -euo pipefail
data=${1:-../shared/datasets/california_housing.csv}
root=$(mktemp -d)
ln -s "$PWD" "$root/mlpilot"  # the repository root is the package
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
python3 -m pytest -q --noconftest -p no:cacheprovider tests/engine/test_gpu.py
echo "## california housing, GPU"
python3 benchmarks/engine_throughput.py --data "$data" --device cuda --repeats 3
echo "## california housing, CPU"
python3 benchmarks/engine_throughput.py --data "$data" --device cpu --repeats 3
for shape in "1024,1024 4096" "4096,4096 8192"; do
    set -- $shape
    echo "## 1M synthetic rows, MLP [$1], batch $2, GPU"
    python3 benchmarks/engine_throughput.py --synthetic --rows 1000000 --hidden "$1" \
        --batch-size "$2" --epochs 2 --repeats 2 --device cuda
done
