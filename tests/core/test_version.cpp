// The header's version and CMake's project(VERSION) must not drift apart.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tpt/tpt.hpp"

TEST_CASE("tpt::version_string equals the CMake project version", "[version]") {
  CHECK(std::string(tpt::version_string) == TPT_CMAKE_PROJECT_VERSION);
  CHECK(fmt::format("{}.{}.{}", tpt::version_major, tpt::version_minor, tpt::version_patch) ==
        TPT_CMAKE_PROJECT_VERSION);
}
