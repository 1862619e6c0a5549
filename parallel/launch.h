// launch.h — how this process was started: alone, or as one rank of a job
// that mpirun (or another MPI launcher) started. Read from the environment
// the launcher sets, before MPI is initialised, so that a plain `mhc train`
// never touches MPI.
#pragma once
#include <functional>
#include <string>

namespace mhc {

struct LaunchInfo {
  bool by_mpi = false;                 // a launcher's variables are present (even for one process)
  int rank = 0, size = 1;              // in the whole job
  int local_rank = 0, local_size = 1;  // on this machine
  std::string launcher;                // what was recognised: "OpenMPI", "PMI", or empty
};

// Recognises OpenMPI's OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}
// and the PMI_RANK / PMI_SIZE pair of MPICH, Intel MPI and Slurm. `env`
// returns a variable's value or nullptr (std::getenv in the program, a map
// in the tests). Throws std::runtime_error naming the variable when a value
// is not a number or is out of range (rank outside [0, size)).
LaunchInfo detect_launch(const std::function<const char*(const char*)>& env);
LaunchInfo detect_launch();  // from this process's environment

// The GPU rank `rank` (local rank `local_rank` of `local_size` on its
// machine) uses when the machine shows `visible` GPUs: GPU local_rank, or
// the one visible GPU when a scheduler gives each rank its own
// (`visible_set`: CUDA_VISIBLE_DEVICES is set). Throws naming the problem
// when there are fewer GPUs than ranks on the machine.
int gpu_for_rank(int visible, int rank, int local_rank, int local_size, bool visible_set);

}  // namespace mhc
