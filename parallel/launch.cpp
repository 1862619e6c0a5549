// launch.cpp — see launch.h.
#include "parallel/launch.h"

#include <fmt/core.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace mhc {

namespace {
// The variable's value as an int in [lo, hi], or `fallback` when it is not set.
int env_int(const std::function<const char*(const char*)>& env, const char* name, int fallback, int lo, int hi) {
  const char* v = env(name);
  if (!v) return fallback;
  const std::string s(v);
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < lo || value > hi)
    throw std::runtime_error(
        fmt::format("environment variable {}={} is not a whole number in [{}, {}]", name, s, lo, hi));
  return value;
}
}  // namespace

LaunchInfo detect_launch(const std::function<const char*(const char*)>& env) {
  LaunchInfo info;
  constexpr int kMaxRanks = 1 << 20;
  if (env("OMPI_COMM_WORLD_SIZE")) {
    info.launcher = "OpenMPI";
    info.size = env_int(env, "OMPI_COMM_WORLD_SIZE", 1, 1, kMaxRanks);
    info.rank = env_int(env, "OMPI_COMM_WORLD_RANK", 0, 0, info.size - 1);
    info.local_size = env_int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, 1, info.size);
    info.local_rank = env_int(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0, 0, info.local_size - 1);
  } else if (env("PMI_SIZE")) {
    info.launcher = "PMI";
    info.size = env_int(env, "PMI_SIZE", 1, 1, kMaxRanks);
    info.rank = env_int(env, "PMI_RANK", 0, 0, info.size - 1);
    // MPICH's Hydra sets MPI_LOCALNRANKS / MPI_LOCALRANKID; without them, assume one rank per machine.
    info.local_size = env_int(env, "MPI_LOCALNRANKS", 1, 1, info.size);
    info.local_rank = env_int(env, "MPI_LOCALRANKID", 0, 0, info.local_size - 1);
  } else {
    return info;
  }
  info.by_mpi = true;
  return info;
}

int gpu_for_rank(int visible, int rank, int local_rank, int local_size, bool visible_set) {
  if (visible < 1) throw std::runtime_error(fmt::format("rank {}: no GPU is visible", rank));
  if (visible == 1 && local_size > 1 && !visible_set)
    throw std::runtime_error(fmt::format("{} ranks on a machine with one GPU: launch one rank per GPU", local_size));
  if (visible == 1) return 0;  // one visible GPU (CUDA_VISIBLE_DEVICES set per rank, by a scheduler): that one
  if (local_rank >= visible)
    throw std::runtime_error(
        fmt::format("rank {} is rank {} of {} on its machine, which has {} GPUs: launch at most one rank per GPU", rank,
                    local_rank, local_size, visible));
  return local_rank;
}

LaunchInfo detect_launch() {
  return detect_launch([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace mhc
