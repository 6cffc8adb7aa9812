// The OCI state (runtime stdin) and config.json parsers: any input either parses or throws
// ocinet::Error; nothing else may escape, crash or leak.
#include <cstdint>
#include <string>

#include "config/oci_state.h"
#include "base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    auto s = ocinet::parse_oci_state(in);
    (void)s;
  } catch (const ocinet::Error&) {
  }
  try {
    auto b = ocinet::parse_bundle_config(in, "/bundle");
    (void)b;
  } catch (const ocinet::Error&) {
  }
  return 0;
}
