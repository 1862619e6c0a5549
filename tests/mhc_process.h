// mhc_process.h — runs the mhc binary as a user would, for the CLI tests
// (test_cli, test_token_cli): the command line, the working folder, and back
// the exit code and everything it printed. The test defines MHC_BINARY.
#pragma once
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

namespace mhc::test {

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs the mhc binary with `args` from the working directory `cwd`; `before`
// is shell text put first, such as "ulimit -v 4000000 && timeout 60 env ".
inline Result run_mhc(const std::string& args, const std::filesystem::path& cwd, const std::string& before = "") {
  const std::string cmd =
      "cd '" + cwd.string() + "' && " + before + "OMP_NUM_THREADS=1 '" MHC_BINARY "' " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace mhc::test
