// tpt/io/atomic_file.hpp: a failed write never damages what was there.
#include <chrono>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "tpt/io/atomic_file.hpp"
#include "tpt_test_support.hpp"

TEST_CASE("write_atomically writes, replaces and creates folders", "[io]") {
  tpt::test::scratch_dir dir;
  auto p = dir / "sub/report.md";
  tpt::io::write_text_atomically(p, "first");
  CHECK(tpt::io::read_text(p) == "first");
  tpt::io::write_text_atomically(p, "second");
  CHECK(tpt::io::read_text(p) == "second");
}

TEST_CASE("a throwing writer leaves the old file intact and no temporary behind", "[io][errors]") {
  tpt::test::scratch_dir dir;
  auto p = dir / "ckpt.bin";
  tpt::io::write_text_atomically(p, "good");
  CHECK_THROWS_AS(tpt::io::write_atomically(p, [](std::ostream& out) {
                    out << "half";
                    throw std::runtime_error("interrupted");
                  }),
                  std::runtime_error);
  CHECK(tpt::io::read_text(p) == "good");
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
}

TEST_CASE("read_text names a missing file", "[io][errors]") {
  tpt::test::scratch_dir dir;
  CHECK_THROWS_WITH(tpt::io::read_text(dir / "nope.txt"),
                    Catch::Contains("nope.txt") && Catch::Contains("no such file"));
}

TEST_CASE("two writers of one file never share a temporary file", "[io]") {
  // The temporary name used to be the process id alone: a second writer in the same process (or
  // in another container, where the process id is also 1) truncated the first one's file.
  tpt::test::scratch_dir dir;
  auto p = dir / "shared.json";
  tpt::io::write_atomically(p, [&](std::ostream& out) {
    out << "outer-";
    tpt::io::write_text_atomically(p, "inner");  // a concurrent writer of the same target
    out << "done";
  });
  CHECK(tpt::io::read_text(p) == "outer-done");  // the last rename wins, whole
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
  std::set<std::string> suffixes;
  for (int i = 0; i < 1000; ++i) suffixes.insert(tpt::io::unique_temporary_suffix());
  CHECK(suffixes.size() == 1000);
  CHECK_THAT(*suffixes.begin(), Catch::Matches(R"(\d+-[0-9a-f]{16}-\d+)"));
}

TEST_CASE("temporaries a killed writer left behind are removed, no one else's", "[io]") {
  namespace fs = std::filesystem;
  tpt::test::scratch_dir dir;
  const auto target = dir / "checkpoint.pt";
  // A process id that has just ended: a child that exits at once.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  const auto old = fs::file_time_type::clock::now() - std::chrono::minutes(5);
  auto make = [&](const std::string& name, bool aged) {
    tpt::io::write_text_atomically(dir / name, "x");
    if (aged) fs::last_write_time(dir / name, old);
    return dir / name;
  };
  const auto dead_old = make(fmt::format(".checkpoint.pt.tmp-{}-00000000000000aa-0", child), true);
  const auto dead_recent = make(fmt::format(".checkpoint.pt.tmp-{}-00000000000000aa-1", child), false);
  const auto alive_old = make(fmt::format(".checkpoint.pt.tmp-{}-00000000000000aa-2", ::getpid()), true);
  const auto other_target = make(fmt::format(".checkpoint.pt.bak.tmp-{}-00000000000000aa-0", child), true);
  const auto not_a_temporary = make(fmt::format(".checkpoint.pt.tmp-x{}", child), true);
  tpt::io::write_text_atomically(target, "the checkpoint");

  CHECK(tpt::io::remove_abandoned_temporaries(target) == 1);
  CHECK_FALSE(fs::exists(dead_old));
  CHECK(fs::exists(dead_recent));  // may still be writing (on another machine sharing the folder)
  CHECK(fs::exists(alive_old));    // its writer runs
  CHECK(fs::exists(other_target));
  CHECK(fs::exists(not_a_temporary));
  CHECK(tpt::io::read_text(target) == "the checkpoint");
  CHECK(tpt::io::remove_abandoned_temporaries(target, std::chrono::seconds(0)) == 1);  // now the recent one too
  CHECK_FALSE(fs::exists(dead_recent));
  CHECK(tpt::io::remove_abandoned_temporaries(dir / "missing-folder" / "x.pt") == 0);
}
