// process_group.cpp — see process_group.h. MPI code is compiled only when
// the build found MPI (MHC_HAVE_MPI); NCCL lives in nccl_transport.cu.
#include "parallel/process_group.h"

#include <fmt/core.h>

#include <cstdlib>
#include <stdexcept>

#include "parallel/nccl_transport.h"

#ifdef MHC_HAVE_MPI
#include <mpi.h>
#endif

namespace mhc {

namespace {

// A group of one: the mean over one rank is the buffer itself.
class IdentityTransport final : public ReduceTransport {
 public:
  void start(int, float*, int64_t) override {}
  void wait_all() override {}
};

}  // namespace

#ifdef MHC_HAVE_MPI

namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(fmt::format("MPI: {} failed: {}", what, std::string(text, static_cast<size_t>(len))));
}

// Averages host buffers: an all-to-all hands rank r the r-th chunk of every
// rank's buffer; rank r adds them in rank order and divides by K; an
// all-gather hands every rank all the averaged chunks. The bytes moved per
// rank are 2 (K-1)/K of the buffer, as for a ring all-reduce.
class MpiTransport final : public ReduceTransport {
 public:
  MpiTransport(int rank, int size) : rank_(rank), size_(size) {}
  ~MpiTransport() override {
    // An exception between start() and wait_all() leaves requests behind;
    // they must finish before their buffers go.
    for (Pending& p : pending_)
      if (p.request != MPI_REQUEST_NULL) MPI_Wait(&p.request, MPI_STATUS_IGNORE);
  }
  void start(int slot, float* buffer, int64_t n) override {
    if (n % size_ != 0)
      throw std::logic_error(fmt::format("MpiTransport: length {} is not a multiple of {} ranks", n, size_));
    const int64_t chunk = n / size_;
    if (chunk > INT32_MAX) throw std::runtime_error(fmt::format("MpiTransport: a bucket of {} floats is too large", n));
    if (static_cast<size_t>(slot) >= staging_.size()) staging_.resize(static_cast<size_t>(slot) + 1);
    std::vector<float>& staging = staging_[static_cast<size_t>(slot)];
    staging.resize(static_cast<size_t>(n));
    Pending p{buffer, staging.data(), chunk, MPI_REQUEST_NULL};
    check_mpi(MPI_Ialltoall(buffer, static_cast<int>(chunk), MPI_FLOAT, p.staging, static_cast<int>(chunk), MPI_FLOAT,
                            MPI_COMM_WORLD, &p.request),
              "MPI_Ialltoall");
    pending_.push_back(p);
  }
  void poll() override {
    for (Pending& p : pending_) {
      if (p.request == MPI_REQUEST_NULL) continue;
      int done = 0;
      check_mpi(MPI_Test(&p.request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    }
  }
  void wait_all() override {
    std::vector<MPI_Request> gathers;
    for (Pending& p : pending_) {
      check_mpi(MPI_Wait(&p.request, MPI_STATUS_IGNORE), "MPI_Wait");
      // staging holds chunk `rank_` of ranks 0..K-1, one after the other.
      float* own = p.buffer + rank_ * p.chunk;
      const float k = static_cast<float>(size_);
      for (int64_t i = 0; i < p.chunk; ++i) {
        float s = p.staging[i];
        for (int r = 1; r < size_; ++r) s += p.staging[r * p.chunk + i];
        own[i] = s / k;
      }
      gathers.emplace_back();
      check_mpi(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, p.buffer, static_cast<int>(p.chunk), MPI_FLOAT,
                               MPI_COMM_WORLD, &gathers.back()),
                "MPI_Iallgather");
    }
    pending_.clear();
    check_mpi(MPI_Waitall(static_cast<int>(gathers.size()), gathers.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  }

 private:
  struct Pending {
    float* buffer;
    float* staging;
    int64_t chunk;
    MPI_Request request;
  };
  int rank_, size_;
  std::vector<std::vector<float>> staging_;  // per slot, kept between steps
  std::vector<Pending> pending_;
};

}  // namespace

struct ProcessGroup::Impl {
  ~Impl() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
};

std::unique_ptr<ProcessGroup> ProcessGroup::from_environment() {
  const LaunchInfo info = detect_launch();
  if (!info.by_mpi) return single();
  std::unique_ptr<ProcessGroup> g(new ProcessGroup());
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g->impl_ = std::make_unique<Impl>();
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != info.rank || size != info.size)
    throw std::runtime_error(
        fmt::format("MPI says rank {} of {}, but the launcher's environment ({}) says rank {} of {}", rank, size,
                    info.launcher, info.rank, info.size));
  g->info_ = info;
  // The ranks on this machine from MPI itself (PMI launchers such as srun do
  // not always say): those that share memory with this one.
  MPI_Comm local;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &g->info_.local_rank);
  MPI_Comm_size(local, &g->info_.local_size);
  MPI_Comm_free(&local);
  return g;
}

void ProcessGroup::sum(std::vector<double>& values) {
  if (!impl_ || size() == 1) return;
  const size_t n = values.size();
  std::vector<double> all(n * static_cast<size_t>(size()));
  check_mpi(MPI_Allgather(values.data(), static_cast<int>(n), MPI_DOUBLE, all.data(), static_cast<int>(n), MPI_DOUBLE,
                          MPI_COMM_WORLD),
            "MPI_Allgather");
  for (size_t i = 0; i < n; ++i) {
    double s = all[i];
    for (int r = 1; r < size(); ++r) s += all[static_cast<size_t>(r) * n + i];
    values[i] = s;
  }
}

std::vector<uint64_t> ProcessGroup::gather(uint64_t value) {
  if (!impl_ || size() == 1) return {value};
  std::vector<uint64_t> all(static_cast<size_t>(size()));
  check_mpi(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return all;
}

void ProcessGroup::broadcast(void* data, size_t bytes) {
  if (!impl_ || size() == 1) return;
  check_mpi(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

void ProcessGroup::abort(int code) {
  if (impl_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void ProcessGroup::barrier() {
  if (!impl_ || size() == 1) return;
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

std::unique_ptr<ReduceTransport> ProcessGroup::transport(Device device) {
  if (size() == 1 && !impl_) return std::make_unique<IdentityTransport>();
  if (device == Device::cuda) return make_nccl_transport(*this);
  return std::make_unique<MpiTransport>(rank(), size());
}

#else  // no MPI in this build

struct ProcessGroup::Impl {};

std::unique_ptr<ProcessGroup> ProcessGroup::from_environment() {
  const LaunchInfo info = detect_launch();
  if (info.by_mpi && info.size > 1)
    throw std::runtime_error(fmt::format(
        "this process is rank {} of {} started by {} (mpirun), but this build of mhc has no MPI, so the ranks "
        "cannot work together: install libopenmpi-dev and openmpi-bin (scripts/setup.sh does) and rebuild",
        info.rank, info.size, info.launcher));
  return single();
}

void ProcessGroup::sum(std::vector<double>&) {}
std::vector<uint64_t> ProcessGroup::gather(uint64_t value) { return {value}; }
void ProcessGroup::broadcast(void*, size_t) {}
void ProcessGroup::barrier() {}
void ProcessGroup::abort(int code) { std::exit(code); }

std::unique_ptr<ReduceTransport> ProcessGroup::transport(Device) { return std::make_unique<IdentityTransport>(); }

#endif

std::unique_ptr<ProcessGroup> ProcessGroup::single() { return std::unique_ptr<ProcessGroup>(new ProcessGroup()); }

ProcessGroup::~ProcessGroup() = default;

}  // namespace mhc
