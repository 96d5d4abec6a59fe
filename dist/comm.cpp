// comm.cpp — Comm over MPI when built with it (MINICOPE_HAVE_MPI), one rank otherwise.
#include "dist/comm.h"

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#ifdef MINICOPE_HAVE_MPI
#include <mpi.h>
#endif

namespace mc {

namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (*end == '\0' && x >= 0 && x < INT_MAX) ? int(x) : fallback;
}

}  // namespace

Launch launch_from_env() {
  Launch l;
  if (std::getenv("OMPI_COMM_WORLD_SIZE")) {  // OpenMPI's mpirun
    l.size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    l.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    l.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (std::getenv("PMI_SIZE")) {  // MPICH's Hydra
    l.size = env_int("PMI_SIZE", 1);
    l.rank = env_int("PMI_RANK", 0);
    l.local_size = env_int("MPI_LOCALNRANKS", 1);
  }
  if (l.size < 1) l.size = 1;
  if (l.rank >= l.size) l.rank = 0;
  if (l.local_size < 1 || l.local_size > l.size) l.local_size = 1;
  return l;
}

namespace {
Comm* g_world = nullptr;  // never destroyed: finish() ends MPI, after every other use
}

Comm& Comm::world() {
  if (!g_world) {
    auto c = std::unique_ptr<Comm>(new Comm());
    const Launch l = launch_from_env();
    if (l.size > 1) c->init_mpi(l);
    g_world = c.release();
  }
  return *g_world;
}

bool Comm::world_started() { return g_world != nullptr; }

void Comm::finish_world(int status) {
  if (g_world) g_world->finish(status);
}

#ifdef MINICOPE_HAVE_MPI

bool built_with_mpi() { return true; }

struct Comm::Mpi {
  MPI_Comm comm = MPI_COMM_NULL;
  std::vector<MPI_Request> pending;  // start_sum's requests, in order
};

namespace {

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, size_t(len));
}

using Clock = std::chrono::steady_clock;

}  // namespace

void Comm::init_mpi(const Launch& l) {
  int provided = 0;
  // Only the main thread calls MPI (TBB's workers never do): FUNNELED is enough.
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw std::runtime_error("MPI_Init failed (rank " + std::to_string(l.rank) + " of " + std::to_string(l.size) + ")");
  mpi_ = std::make_unique<Mpi>();
  MPI_Comm_dup(MPI_COMM_WORLD, &mpi_->comm);
  // Errors come back as return codes, so a lost peer becomes our own clear message.
  MPI_Comm_set_errhandler(mpi_->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(mpi_->comm, &rank_);
  MPI_Comm_size(mpi_->comm, &size_);
  const int kill_after = env_int("OMPI_MCA_odls_base_sigkill_timeout", 1);
  grace_ = std::max(0.5, double(kill_after) / 2);  // the other half: rank 0's save and its line
}

// Waits for `reqs` to complete: spins briefly, then polls every 20 us. Throws RankLost
// past the deadline, after a stop signal plus the grace period, or on an MPI error.
static void wait_requests(std::vector<MPI_Request>& reqs, double timeout, const volatile std::sig_atomic_t* stop,
                          double grace, const std::string& what, bool& lost) {
  const auto start = Clock::now();
  Clock::time_point stopped{};
  for (int spin = 0;; ++spin) {
    int done = 0;
    const int rc = MPI_Testall(int(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
      lost = true;
      throw RankLost("MPI failed while " + what + ": " + mpi_error(rc) + " (another rank has probably died)");
    }
    if (done) {
      reqs.clear();
      return;
    }
    if (spin < 2000) continue;
    const auto now = Clock::now();
    if (stop && *stop) {
      if (stopped == Clock::time_point{}) stopped = now;
      if (std::chrono::duration<double>(now - stopped).count() > grace) {
        lost = true;
        const int sig = int(*stop);
        const std::string name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
        throw RankLost("stopped by " + name + " while " + what +
                       " and the other ranks did not answer (one has died or is being stopped)");
      }
    }
    const double waited = std::chrono::duration<double>(now - start).count();
    if (waited > timeout) {
      lost = true;
      char t[32];
      std::snprintf(t, sizeof t, "%.0f", timeout);
      throw RankLost("the other ranks did not answer for " + std::string(t) + " s while " + what +
                     " (a rank died, hung or was stopped; --rank-timeout sets this limit)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

void Comm::sum(double* x, int64_t n, const std::string& what) {
  if (!mpi_) return;
  std::vector<MPI_Request> reqs;
  for (int64_t at = 0; at < n; at += int64_t(1) << 30) {  // MPI counts are int
    const int count = int(std::min<int64_t>(n - at, int64_t(1) << 30));
    reqs.emplace_back();
    const int rc = MPI_Iallreduce(MPI_IN_PLACE, x + at, count, MPI_DOUBLE, MPI_SUM, mpi_->comm, &reqs.back());
    if (rc != MPI_SUCCESS) {
      lost_ = true;
      throw RankLost("MPI failed while " + what + ": " + mpi_error(rc));
    }
  }
  wait_requests(reqs, timeout_, stop_flag_, grace_, what, lost_);
}

std::string Comm::broadcast(std::string bytes, int root, const std::string& what) {
  if (!mpi_) return bytes;
  int64_t n = int64_t(bytes.size());
  std::vector<MPI_Request> reqs(1);
  auto check = [&](int rc) {
    if (rc != MPI_SUCCESS) {
      lost_ = true;
      throw RankLost("MPI failed while " + what + ": " + mpi_error(rc));
    }
  };
  check(MPI_Ibcast(&n, 1, MPI_INT64_T, root, mpi_->comm, &reqs[0]));
  wait_requests(reqs, timeout_, stop_flag_, grace_, what, lost_);
  bytes.resize(size_t(n));
  for (int64_t at = 0; at < n; at += int64_t(1) << 30) {
    const int count = int(std::min<int64_t>(n - at, int64_t(1) << 30));
    reqs.emplace_back();
    check(MPI_Ibcast(bytes.data() + at, count, MPI_BYTE, root, mpi_->comm, &reqs.back()));
  }
  wait_requests(reqs, timeout_, stop_flag_, grace_, what, lost_);
  return bytes;
}

void Comm::start_sum(void* data, int64_t n, DType dtype) {
  if (!mpi_) return;
  if (n > INT_MAX) throw std::invalid_argument("start_sum: more than 2^31-1 elements in one bucket");
  if (dtype != DType::f32 && dtype != DType::f64) throw std::invalid_argument("start_sum: needs f32 or f64");
  mpi_->pending.emplace_back();
  const int rc = MPI_Iallreduce(MPI_IN_PLACE, data, int(n), dtype == DType::f32 ? MPI_FLOAT : MPI_DOUBLE, MPI_SUM,
                                mpi_->comm, &mpi_->pending.back());
  if (rc != MPI_SUCCESS) {
    lost_ = true;
    throw RankLost("MPI failed while starting a gradient sum: " + mpi_error(rc));
  }
}

void Comm::poll() {
  if (!mpi_ || mpi_->pending.empty()) return;
  int done = 0;
  MPI_Testall(int(mpi_->pending.size()), mpi_->pending.data(), &done, MPI_STATUSES_IGNORE);  // errors: seen by wait_all
}

void Comm::wait_all(const std::string& what) {
  if (!mpi_ || mpi_->pending.empty()) return;
  wait_requests(mpi_->pending, timeout_, stop_flag_, grace_, what, lost_);
}

void Comm::finish(int status) {
  if (!mpi_ || finished_) return;
  finished_ = true;
  std::fflush(nullptr);
  if (lost_ && rank_ != 0) {
    // Rank 0 may still be waiting out its own deadline, then saving the last step; it
    // ends the job (MPI_Abort) when done. Aborting first would kill it mid-save, so
    // give it time. If rank 0 is the one lost, this rank ends the job after the pause.
    std::this_thread::sleep_for(std::chrono::duration<double>(10.0 + grace_));
  }
  if (lost_ || (status != 0 && !failure_agreed_)) MPI_Abort(mpi_->comm, status != 0 ? status : 1);
  else MPI_Finalize();
}

Comm::~Comm() = default;

#else  // no MPI: one rank

bool built_with_mpi() { return false; }

struct Comm::Mpi {};

void Comm::init_mpi(const Launch& l) {
  throw std::runtime_error("started by mpirun as rank " + std::to_string(l.rank) + " of " + std::to_string(l.size) +
                           ", but this minicope was built without MPI (install libopenmpi-dev and openmpi-bin, then "
                           "rebuild: ./minicope build)");
}
void Comm::sum(double*, int64_t, const std::string&) {}
std::string Comm::broadcast(std::string bytes, int, const std::string&) { return bytes; }
void Comm::start_sum(void*, int64_t, DType) {}
void Comm::poll() {}
void Comm::wait_all(const std::string&) {}
void Comm::finish(int) {}
Comm::~Comm() = default;

#endif

}  // namespace mc
