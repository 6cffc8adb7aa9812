// The hosts/resolv.conf merger: whatever the container's file holds, merging keeps every
// foreign line, and merging twice is the same as merging once.
#include <cstdint>
#include <string>

#include "netcore/container_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  auto block = ocinet::hosts_lines({{"172.17.0.2", {"web", "alias"}}});
  std::string once = ocinet::merge_block(in, block);
  std::string twice = ocinet::merge_block(once, block);
  if (once != twice) __builtin_trap();
  std::string removed = ocinet::merge_block(once, {});
  if (ocinet::merge_block(removed, {}) != removed) __builtin_trap();
  (void)ocinet::host_nameservers(in);
  return 0;
}
