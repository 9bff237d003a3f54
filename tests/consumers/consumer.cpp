// A user's program: includes the umbrella header and uses the library.
#include <tpt/tpt.hpp>

#include <fmt/format.h>

int main() {
  tpt::rng gen(1);
  const auto draw = gen.uniform_index(10);
  if (draw >= 10) return 1;
  fmt::print("consumer ok: tpt {}\n", tpt::version_string);
  return 0;
}
