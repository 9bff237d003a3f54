// tpt/io/atomic_file.hpp: a failed write never damages what was there.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

TEST_CASE("a link is written through, a FIFO written into, a socket refused, a folder not read",
          "[io][errors]") {
  namespace fs = std::filesystem;
  tpt::test::scratch_dir dir;
  // A symbolic link stays a link, and the file it names gets the new text.
  tpt::io::write_text_atomically(dir / "real.json", "old");
  fs::create_symlink("real.json", dir / "link.json");
  tpt::io::write_text_atomically(dir / "link.json", "new");
  CHECK(fs::is_symlink(fs::symlink_status(dir / "link.json")));
  CHECK(tpt::io::read_text(dir / "real.json") == "new");
  // A FIFO (as /dev/stdout may be) is written into, not replaced by a regular file.
  const auto fifo = dir / "pipe.csv";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = tpt::io::read_text(fifo); });
  try {
    tpt::io::write_text_atomically(fifo, "through the pipe");
  } catch (...) {
    { std::ofstream release(fifo); }  // the reader waits for a writer: end it before failing
    reader.join();
    throw;
  }
  reader.join();
  CHECK(received == "through the pipe");
  CHECK(fs::is_fifo(fs::status(fifo)));
  // A descriptor the caller opened (`--csv /dev/stdout > file`) is written into, not replaced.
  {
    const auto redirected = dir / "redirected.txt";
    tpt::io::write_text_atomically(redirected, "before");
    struct stat before {};
    REQUIRE(::stat(redirected.c_str(), &before) == 0);
    const int out = ::open(redirected.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(out >= 0);
    tpt::io::write_text_atomically(fmt::format("/proc/self/fd/{}", out), "through the descriptor");
    ::close(out);
    struct stat after {};
    REQUIRE(::stat(redirected.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);  // the same file: the shell's descriptor still leads to it
    CHECK(tpt::io::read_text(redirected) == "through the descriptor");
  }
  // A socket cannot take a file's content: refused, named.
  const auto socket_path = dir / "daemon.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket_path.native().size() < sizeof address.sun_path);
  std::strcpy(address.sun_path, socket_path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  CHECK_THROWS_WITH(tpt::io::write_text_atomically(socket_path, "x"),
                    Catch::Contains("daemon.sock") && Catch::Contains("is a socket"));
  ::close(fd);
  CHECK(fs::is_socket(fs::status(socket_path)));
  // Reading a folder names it (a stream error said "basic_filebuf::underflow").
  CHECK_THROWS_WITH(tpt::io::read_text(dir.path()), Catch::Contains("is a folder, expected a file"));
  // An unwritable place names the target and the reason, not the temporary file.
  if (::geteuid() != 0) {
    fs::create_directory(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH(tpt::io::write_text_atomically(dir / "locked" / "out.json", "x"),
                      Catch::Contains("out.json: cannot write a file in") && Catch::Contains("Permission denied"));
    fs::permissions(dir / "locked", fs::perms::owner_all);
  }
}
