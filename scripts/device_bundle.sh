#!/usr/bin/env bash
# scripts/device_bundle.sh — builds the CUDA binaries for a GPU machine
# (sm_90, portable x86-64-v3 host code) into build-device/ and gathers them,
# with the non-CUDA shared libraries they need, into .device/ (git-ignored).
# On the GPU machine: scripts/gpu_check.sh (which unpacks it and runs every check).
#
#   scripts/device_bundle.sh [TARGET...]   build and pack (extra targets optional)
#   scripts/device_bundle.sh --check       configure only, in a temporary folder, and
#                                          check that every target the bundle and
#                                          gpu_check.sh need still exists (ctest runs
#                                          this, so the GPU check cannot rot unseen)
set -euo pipefail
cd "$(dirname "$0")/.."
# What gpu_check.sh runs; it may use no other binary from .device/.
targets=(test_cuda_backend test_cuda_model test_cuda_mhc bench_train_step bench_mhc_kernels mhc tutorial_06_cuda)
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
# No MPI (so no NCCL either): the GPU machine has neither OpenMPI's libraries
# nor room in the carry for libnccl; the data-parallel tests skip there.
configure() {  # BUILD_DIR
  mkdir -p "$1"
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA=ON -DMHC_NATIVE=OFF -DMHC_MPI=OFF \
    -DCMAKE_CXX_FLAGS="-march=x86-64-v3" -DCMAKE_CUDA_ARCHITECTURES=90 >"$1/configure.log" 2>&1 ||
    { cat "$1/configure.log" >&2; echo "device_bundle: the CUDA configuration failed" >&2; exit 1; }
}
if [[ "${1:-}" == "--check" ]]; then
  command -v nvcc >/dev/null || { echo "SKIPPED: device_bundle --check: no nvcc (CUDA toolkit) on this machine"; exit 77; }
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  configure "$dir/build"
  grep -q "mhc: CUDA backend ON" "$dir/build/configure.log" ||
    { echo "device_bundle --check: the configuration did not enable CUDA" >&2; exit 1; }
  known=$(cmake --build "$dir/build" --target help | sed -n 's/^\.\.\. //p' | cut -d' ' -f1)
  bad=0
  for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$known" || { echo "device_bundle --check: target $t is gone from the CUDA build" >&2; bad=1; }
  done
  for t in $(grep -o '\.device/[a-z_0-9]*' scripts/gpu_check.sh | cut -d/ -f2 | sort -u); do
    [[ "$t" == data ]] && continue
    printf '%s\n' "${targets[@]}" | grep -qx "$t" ||
      { echo "device_bundle --check: gpu_check.sh runs .device/$t, which the bundle does not build" >&2; bad=1; }
  done
  bash -n scripts/gpu_check.sh || bad=1
  ((bad == 0)) && echo "device_bundle --check: the CUDA configuration holds all ${#targets[@]} targets gpu_check.sh runs"
  exit "$bad"
fi
targets+=("$@")
configure build-device
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
