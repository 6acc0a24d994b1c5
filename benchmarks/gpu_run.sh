#!/usr/bin/env bash
# ACT training throughput on a lent GPU machine (no package index there): lerobot and the packages the
# machine's image lacks travel as wheels in .gpu/wheels (pip download --python-version 3.12, see
# docs/benchmarks.md); the image's own torch/CUDA are used.
set -euo pipefail
rm -rf /tmp/site && python3 -m pip install -q --no-deps --no-index --target /tmp/site .gpu/wheels/*.whl 2>&1 | grep -v "already exists" || true
# The image's transformers needs huggingface_hub 1.x, lerobot 0.4.4 needs <0.36 and imports transformers
# when it is installed; ACT does not use it, so set it aside on this throwaway machine.
tf=$(python3 -c "import importlib.util as u; s=u.find_spec('transformers'); print(s.submodule_search_locations[0] if s else '')")
if [ -n "$tf" ]; then mv "$tf" /tmp/transformers.set-aside; fi
export PYTHONPATH=/tmp/site:$PWD/src HF_HUB_OFFLINE=1 LEROBOT_MULTI_BENCH_CACHE=/tmp/bench
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, lerobot, lerobot_multi; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
# The image's torchvision has no VideoReader (lerobot's pyav path) and torchcodec is absent: the
# benchmark's camera is stored as images (PNG in parquet) there.
out=${OUT:-/tmp}
python3 benchmarks/bench_train.py --device cuda --steps 200 --rounds 2 --batch-size 64 --workers 8 --camera-dtype image 2>&1 | grep -v "Map\|Svt\|Generat\|mp4\|it/s" | tee "$out/bench_train_gpu.txt"
