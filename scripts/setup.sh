#!/usr/bin/env bash
# scripts/setup.sh — installs what is missing (Debian packages), configures
# and builds mhc in ./build (Release). Safe to run again: with everything in
# place it only confirms the build is up to date.
#
#   MHC_BUILD_DIR   build folder (default: build)
#   MHC_CUDA        AUTO (default: build the CUDA backend when nvcc exists), ON or OFF
#   MHC_CMAKE_ARGS  more configure options for a new build folder (test.sh: -DMHC_SANITIZE=ON)
set -euo pipefail
cd "$(dirname "$0")/.."

# libopenmpi-dev, openmpi-bin: data-parallel training (mpirun -np K mhc train) and its test.
# libpcre2-dev, pkg-config: GPT-2's pre-tokenisation regex (Unicode letter and number classes).
# libxxhash-dev: the XXH64 checksums of checkpoints and token files (header only, compiled inline).
# clang-format: the style check (ctest's clang_format, .clang-format).
packages=(cmake g++ make pkg-config libfmt-dev libcli11-dev nlohmann-json3-dev catch2 libstb-dev libopenblas-dev libopenblas-openmp-dev
          libopenmpi-dev openmpi-bin libpcre2-dev libxxhash-dev clang-format)
# For the PyTorch twin's test (scripts/test_torch_twin.sh, run by /usr/bin/python3); it is
# skipped without them, so only root installs them and a missing one does not stop the build.
test_packages=(python3-torch python3-numpy)
missing=()
missing_test=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for p in "${test_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_test+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
if ((${#missing_test[@]})); then
  skip_note="setup: test_torch_twin will be skipped without ${missing_test[*]} (sudo apt-get install -y ${missing_test[*]})"
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing_test[*]} (for the PyTorch twin's test)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing_test[@]}" >/dev/null; } ||
      echo "$skip_note" >&2
  else
    echo "$skip_note" >&2
  fi
fi

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

build=${MHC_BUILD_DIR:-build}
first=""
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  first=" (a first build takes a few minutes, longer with CUDA)"
  echo "setup: configuring $build/ (Release, CUDA ${MHC_CUDA:-AUTO})"
  # shellcheck disable=SC2086  # MHC_CMAKE_ARGS holds several words on purpose
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMHC_CUDA="${MHC_CUDA:-AUTO}" ${MHC_CMAKE_ARGS:-} >/dev/null
fi
# Progress: make's percentage, a line per finished target and at most one per
# percent of the files compiled; the full log is kept.
log="$build/build.log"
echo "setup: building in $build/ with $(nproc) jobs$first"
set +e
cmake --build "$build" -j"$(nproc)" 2>&1 | tee "$log" |
  awk -W interactive '/^\[ *[0-9]+%\]/ {
    pct = $0; sub(/^\[ */, "", pct); sub(/%.*/, "", pct)
    if ($0 ~ /Built target/) { print "setup: [" pct "%] built " $NF; last = pct }
    else if ($0 ~ /Building/ && pct != last) {
      f = $NF; sub(/CMakeFiles\/[^\/]*\.dir\//, "", f); sub(/\.o$/, "", f)
      print "setup: [" pct "%] compiling " f; last = pct
    }
    fflush()
  }' 2>/dev/null
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
  grep -E "error|Error" "$log" | head -40 >&2 || true
  echo "setup: build failed; full log in $log" >&2
  exit 1
fi
if grep -qE "Building|Linking" "$log"; then
  echo "setup: built mhc in $build/ (log: $log)"
else
  echo "setup: $build/ is up to date"
fi
