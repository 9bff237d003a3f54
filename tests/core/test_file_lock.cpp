// io::exclusive_file_lock: one holder at a time, in this process or another; the refusal names
// the output, the holder and what to do; the lock file goes with the holder when asked.
#include <filesystem>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tpt/io/atomic_file.hpp"
#include "tpt/io/file_lock.hpp"
#include "tpt_test_support.hpp"

using Catch::Contains;

TEST_CASE("an exclusive file lock refuses a second taker, naming the output, the holder and what to do", "[io][lock]") {
  tpt::test::scratch_dir dir;
  const auto file = dir.path() / ".out.json.tpt-lock";
  const auto output = dir.path() / "out.json";
  const std::string pid = std::to_string(::getpid());
  {
    tpt::io::exclusive_file_lock first(file, output, "wait for it to finish", /*remove_on_release=*/true);
    CHECK(first.file() == file);
    CHECK(tpt::io::read_text(file) == pid);
    // Another open file description, as another process would have: refused at once.
    CHECK_THROWS_WITH(tpt::io::exclusive_file_lock(file, output, "wait for it to finish", true),
                      Contains(output.string()) && Contains("is in use by another run (process " + pid + ")") &&
                          Contains("wait for it to finish"));
    CHECK(std::filesystem::exists(file));  // the refused taker leaves the holder's file alone
  }
  CHECK_FALSE(std::filesystem::exists(file));  // removed on release
  const tpt::io::exclusive_file_lock again(file, output, "", true);
  CHECK(std::filesystem::exists(file));
}

TEST_CASE("an exclusive file lock held by another process is refused until that process ends", "[io][lock]") {
  tpt::test::scratch_dir dir;
  const auto file = dir.path() / ".tpt-run.lock";
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int status = 0;
    try {
      tpt::io::exclusive_file_lock held(file, dir.path(), "", /*remove_on_release=*/false);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) status = 2;
      if (::read(release[0], &c, 1) != 1) status = 3;
    } catch (...) {
      status = 1;
    }
    ::_exit(status);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK_THROWS_WITH(tpt::io::exclusive_file_lock(file, dir.path(), "give another --out"),
                    Contains("is in use by another run (process " + std::to_string(child) + ")") &&
                        Contains("give another --out"));
  REQUIRE(::write(release[1], &c, 1) == 1);
  int status = -1;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  // The holder ended; its lock file stays (remove_on_release off) and is simply taken over.
  REQUIRE(std::filesystem::exists(file));
  const tpt::io::exclusive_file_lock taken(file, dir.path(), "");
  CHECK(tpt::io::read_text(file) == std::to_string(::getpid()));
}

TEST_CASE("a lock file that cannot be created is named", "[io][lock][errors]") {
  tpt::test::scratch_dir dir;
  const auto file = dir.path() / "no-such-folder" / ".lock";
  CHECK_THROWS_WITH(tpt::io::exclusive_file_lock(file, dir.path() / "out.json", ""),
                    Contains(file.string()) && Contains("cannot open the lock file"));
}
