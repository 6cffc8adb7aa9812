// What the two firewall backend tests (iptables_test.cpp, nftables_test.cpp) check with: PASS/
// FAIL lines and their counts, shell commands' output, and whether a call fails the right way.
#pragma once
#include <cstdio>
#include <functional>
#include <string>

#include "netcore/error.h"

namespace fwcheck {

inline int passed = 0, failed = 0;

inline void check(bool ok, const std::string& what) {
  std::printf("%s  %s\n", ok ? "PASS" : "FAIL", what.c_str());
  std::fflush(stdout);
  ok ? ++passed : ++failed;
}

// Runs in the caller's current namespace: the child inherits it.
inline std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Whether f throws an ocinet::Error of this kind (its message in *why, if given).
inline bool throws(const std::function<void()>& f, ocinet::ErrorKind kind, std::string* why = nullptr) {
  try {
    f();
  } catch (const ocinet::Error& e) {
    if (why) *why = e.what();
    return e.kind() == kind;
  }
  return false;
}

// Whether f returns; what it threw is printed.
inline bool succeeds(const std::function<void()>& f) {
  try {
    f();
    return true;
  } catch (const std::exception& e) {
    std::printf("      error: %s\n", e.what());
    return false;
  }
}

}  // namespace fwcheck
