// main.cpp — the `minicope` program: everything is in run_cli (cli/cli.cpp).
#include <csignal>
#include <iostream>

#include "dist/comm.h"
#include "cli/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Past a file-size limit (ulimit -f), write() then fails with EFBIG and the save
  // reports it, instead of the process being killed mid-file.
  std::signal(SIGXFSZ, SIG_IGN);
  const int status = mc::run_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
  std::cout.flush();
  mc::Comm::finish_world(status);  // under mpirun: finalise MPI, or end the job on a failure of this rank alone
  return status;
}
