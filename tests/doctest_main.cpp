// doctest_main.cpp — the main of every test executable: doctest's, plus skips (skip.h).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>
#include <vector>

#include "tests/skip.h"

namespace {
std::vector<std::string>& skipped() {
  static std::vector<std::string> s;
  return s;
}
}  // namespace

void skip_test(const std::string& why) { skipped().push_back(why); }

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int status = context.run();
  if (context.shouldExit() || status != 0) return status;
  for (const std::string& why : skipped()) std::cout << "skipped: " << why << "\n";
  return skipped().empty() ? 0 : 77;
}
