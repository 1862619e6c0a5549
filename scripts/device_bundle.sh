#!/usr/bin/env bash
# scripts/device_bundle.sh — builds the CUDA binaries for a GPU machine
# (sm_90, portable x86-64-v3 host code) into build-device/ and gathers them,
# with the non-CUDA shared libraries they need, into .device/ (git-ignored).
# On the GPU machine: tar xJf .device.tar.xz && LD_LIBRARY_PATH=.device .device/test_cuda_backend
set -euo pipefail
cd "$(dirname "$0")/.."
# No MPI (so no NCCL either): the GPU machine has neither OpenMPI's libraries
# nor room in the carry for libnccl; the data-parallel tests skip there.
cmake -S . -B build-device -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=ON -DMHC_NATIVE=OFF -DMHC_MPI=OFF \
  -DCMAKE_CXX_FLAGS="-march=x86-64-v3" -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
targets=(test_cuda_backend test_cuda_model test_cuda_mhc bench_train_step bench_mhc_kernels mhc tutorial_06_cuda "$@")
cmake --build build-device -j"$(nproc)" --target "${targets[@]}" 2>&1 | grep -E "error|warning" || true
rm -rf .device && mkdir -p .device
for t in "${targets[@]}"; do
  f=$(find build-device -type f -name "$t" -perm -u+x | head -1)
  [[ -n "$f" ]] && cp "$f" .device/
done
for lib in libfmt.so.9 libgfortran.so.5 libquadmath.so.0 libgomp.so.1 libstb.so.0; do
  p=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p {p = $NF} END {print p}')  # no early exit: SIGPIPE + pipefail
  [[ -n "$p" ]] && cp -L "$p" .device/
done
cp -L /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0 .device/
mkdir -p .device/data && cp ../shared/data/tinyshakespeare.txt .device/data/ 2>/dev/null || true
strip .device/* 2>/dev/null || true
# One compressed file travels (device code makes each binary ~13 MB).
tar cf - .device | xz -T"$(nproc)" -6 > .device.tar.xz
du -sh .device .device.tar.xz
