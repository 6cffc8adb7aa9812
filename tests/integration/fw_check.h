// What the two firewall backend tests (iptables_test.cpp, nftables_test.cpp) check with: PASS/
// FAIL lines and their counts, shell commands' output, and whether a call fails the right way.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"

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

// The accepts a network gets in another manager's FORWARD chain (foreign_forward.h), in their
// order there, as `iptables -S` prints them without quotes.
inline std::vector<std::string> forward_accept_lines(const std::string& bridge, const std::string& network, bool internal) {
  const std::string tail = "-m comment --comment ocinet-net:" + network + " -j ACCEPT";
  if (internal) return {"-A FORWARD -i " + bridge + " -o " + bridge + " " + tail};
  return {"-A FORWARD -i " + bridge + " " + tail, "-A FORWARD -o " + bridge + " -m conntrack --ctstate RELATED,ESTABLISHED " + tail,
          "-A FORWARD -o " + bridge + " -m conntrack --ctstate DNAT " + tail};
}

// `iptables -S FORWARD` of `tool` (iptables-nft, ip6tables-legacy, ...) without quotes.
inline std::string forward_rules(const std::string& tool) { return run(tool + " -w -S FORWARD 2>/dev/null | tr -d '\"'"); }

// Checks that `tool`'s FORWARD chain holds the network's accepts, together and in order, and
// that `tool -C` finds each, built its own way: proof that they are as that tool writes rules.
inline void check_forward_accepts(const std::string& tool, const std::string& bridge, const std::string& network,
                                  bool internal) {
  std::string want;
  for (const std::string& line : forward_accept_lines(bridge, network, internal)) want += line + "\n";
  const std::string got = forward_rules(tool);
  check(got.find(want) != std::string::npos,
        tool + ": FORWARD holds " + network + "'s accepts" + (got.find(want) != std::string::npos ? "" : "; got:\n" + got));
  for (const std::string& line : forward_accept_lines(bridge, network, internal))
    check(std::system((tool + " -w -C " + line.substr(3) + " >/dev/null 2>&1").c_str()) == 0, tool + " -C " + line.substr(3));
}

}  // namespace fwcheck
