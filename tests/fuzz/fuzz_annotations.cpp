// The annotation parser: the input is split into key=value lines (annotations are a string
// map); every key gets the io.ocinet. prefix half of the time so known keys are reached.
#include <cstdint>
#include <map>
#include <string>

#include "config/annotations.h"
#include "config/validate.h"
#include "base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> ann;
  size_t start = 0;
  bool prefix = true;
  while (start < in.size()) {
    size_t nl = in.find('\n', start);
    std::string line = in.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? in.size() : nl + 1;
    auto eq = line.find('=');
    std::string k = line.substr(0, eq), v = eq == std::string::npos ? "" : line.substr(eq + 1);
    ann[(prefix ? "io.ocinet." : "") + k] = v;
    prefix = !prefix;
  }
  try {
    auto a = ocinet::parse_annotations(ann);
    // What the parser accepted must satisfy the promises the rest of ocinet relies on.
    for (const auto& n : a.networks)
      if (!ocinet::is_valid_name(n)) __builtin_trap();
    if (a.name && !ocinet::is_valid_name(*a.name)) __builtin_trap();
    for (const auto& h : a.hosts)
      if (ocinet::has_control_chars(h.hostname) || ocinet::has_control_chars(h.ip)) __builtin_trap();
  } catch (const ocinet::Error&) {
  }
  return 0;
}
