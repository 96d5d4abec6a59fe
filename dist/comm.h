// comm.h — the processes ("ranks") of a data-parallel run, and the few collective
// operations training needs: sums, a broadcast, an agreement.
//
// `mpirun -np N minicope train ...` starts N copies of the program. Each learns its
// rank from the launcher's environment; Comm::world() then initialises MPI. Without
// mpirun (or in a build without MPI) there is one rank and every collective is a no-op,
// so the trainer has one code path. docs/distributed.md has the whole picture.
//
// Every collective waits with a deadline: a rank that died, hung or was stopped makes
// the others throw RankLost within `timeout` seconds instead of waiting forever.
#pragma once
#include <csignal>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace mc {

// Where this process sits in its launch, read from the environment that mpirun
// (OpenMPI: OMPI_COMM_WORLD_*; MPICH/Hydra: PMI_*) gives each rank. No MPI call.
struct Launch {
  int rank = 0, size = 1;
  int local_size = 1;  // ranks on this machine (they share its cores)
};
Launch launch_from_env();

// Whether this program was built with MPI (CMake found it).
bool built_with_mpi();

// The other ranks stopped answering: one died, hung, or the job is being torn down.
// Training cannot go on; the message says which collective and at which point.
struct RankLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Comm {
 public:
  // The ranks of this launch. The first call initialises MPI when mpirun started this
  // process with more than one rank; it throws std::runtime_error when this build has
  // no MPI. Not launched by mpirun: one rank, no MPI.
  static Comm& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }

  // The most seconds a collective may wait for the other ranks (default 300).
  void set_timeout(double seconds) { timeout_ = seconds; }
  // A flag that a signal handler sets (SIGINT/SIGTERM). While it is set, a collective
  // waits at most a grace period more before giving up with RankLost: when a rank
  // dies, mpirun sends SIGTERM to the others and SIGKILL 1 s later
  // (odls_base_sigkill_timeout), and a rank waiting for the dead one must give up,
  // save and say why in between. The grace is half of mpirun's
  // odls_base_sigkill_timeout (0.5 s by default; mpirun passes a setting on in
  // OMPI_MCA_odls_base_sigkill_timeout), so that a longer one gives every rank time
  // to finish a step and rank 0 time to save.
  void watch_stop_flag(const volatile std::sig_atomic_t* flag) { stop_flag_ = flag; }

  // ---- collectives: every rank calls them in the same order -------------------------
  // Sums x[0..n) over the ranks, in place; every rank gets the same result.
  // `what` names the operation in a RankLost message ("the gradients of step 12").
  void sum(double* x, int64_t n, const std::string& what);
  // Root's bytes, on every rank.
  std::string broadcast(std::string bytes, int root, const std::string& what);

  // Non-blocking sum (for overlapping gradient sums with backward): starts summing
  // data[0..n) of dtype f32 or f64 in place. `poll` lets pending
  // sums progress without waiting; `wait_all` waits (with the deadline) for all of them.
  void start_sum(void* data, int64_t n, DType dtype);
  void poll();
  void wait_all(const std::string& what);

  // ---- failure ----------------------------------------------------------------------
  // A failure every rank reached together (a bad setting seen by all, a non-finite loss
  // after the sum, an agreed stop): only one rank reports it, and the ranks end
  // normally. Any other failure ends the whole job (MPI_Abort), since the other ranks
  // may be waiting in a collective that will never complete.
  // `reporter` is the rank that prints it.
  void mark_failure_agreed(int reporter = 0) {
    failure_agreed_ = true;
    reporter_ = reporter;
  }
  bool failure_agreed() const { return failure_agreed_; }
  int failure_reporter() const { return reporter_; }
  // Called once as the program ends with its exit status: finalises MPI, or aborts the
  // job when status is non-zero and the failure was not agreed, or a rank was lost.
  void finish(int status);
  // world()->finish(status) if world() was ever called; nothing otherwise.
  static void finish_world(int status);
  // Whether world() has been called (and MPI started, under mpirun). Before, every rank
  // runs the same code on the same arguments, so they fail alike.
  static bool world_started();

  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

 private:
  Comm() = default;
  void init_mpi(const Launch& l);
  struct Mpi;  // MPI handles (comm.cpp); null without MPI or with one rank
  std::unique_ptr<Mpi> mpi_;
  int rank_ = 0, size_ = 1, reporter_ = 0;
  double timeout_ = 300.0, grace_ = 0.5;
  const volatile std::sig_atomic_t* stop_flag_ = nullptr;
  bool failure_agreed_ = false, lost_ = false, finished_ = false;
};

}  // namespace mc
