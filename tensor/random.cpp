#include "tensor/random.h"

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace mc {

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller: u1 in (0, 1] so log(u1) is finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

uint64_t Generator::below(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Generator::below: n must be positive");
  // Rejection sampling: drop the top partial copy of [0, n) so every value is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do x = engine_(); while (x >= limit);
  return x % n;
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ';
  os.precision(17);
  os << std::hexfloat << spare_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  int spare_flag = 0;
  std::string spare_text;
  is >> engine_ >> spare_flag >> spare_text;
  if (is.fail() || (spare_flag != 0 && spare_flag != 1))
    throw std::invalid_argument("Generator::set_state: malformed generator state");
  has_spare_ = spare_flag == 1;
  spare_ = std::strtod(spare_text.c_str(), nullptr);
}

}  // namespace mc
