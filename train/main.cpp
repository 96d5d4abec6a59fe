// main.cpp — the `minicope` program: everything is in run_cli (train/cli.cpp).
#include <iostream>

#include "train/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return mc::run_cli(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
