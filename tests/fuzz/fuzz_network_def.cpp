// The network-definition loader (LIB/networks/<name>.json) and the admin config parser.
#include <cstdint>
#include <string>

#include "config/admin_config.h"
#include "base/error.h"
#include "netcore/network_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    auto n = ocinet::network_from_json(in);
    // A loaded definition survives a round trip unchanged.
    auto again = ocinet::network_from_json(ocinet::network_to_json(n));
    if (again.subnet.str() != n.subnet.str() || again.name != n.name) __builtin_trap();
  } catch (const ocinet::Error&) {
  }
  try {
    auto c = ocinet::parse_admin_config(in);
    (void)c;
  } catch (const ocinet::Error&) {
  }
  return 0;
}
