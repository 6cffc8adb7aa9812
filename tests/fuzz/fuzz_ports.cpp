// The published-port spec parser: accepted specs are well-formed (ranges ordered, ports > 0).
#include <cstdint>
#include <string>

#include "config/ports.h"
#include "base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& p : ocinet::parse_port_list(in)) {
      if (p.ct_start == 0 || p.ct_end < p.ct_start) __builtin_trap();
      if (!p.host_dynamic() && p.host_end < p.host_start) __builtin_trap();
      if (p.proto != "tcp" && p.proto != "udp" && p.proto != "sctp") __builtin_trap();
    }
  } catch (const ocinet::Error&) {
  }
  return 0;
}
