#include "netcore/driver_kind.h"

#include <utility>

#include "base/error.h"

namespace ocinet {

namespace {
constexpr std::pair<Driver, const char*> kNames[] = {
    {Driver::bridge, "bridge"}, {Driver::macvlan, "macvlan"}, {Driver::ipvlan, "ipvlan"}, {Driver::overlay, "overlay"}};
}  // namespace

std::optional<Driver> parse_driver(const std::string& name) {
  for (const auto& [d, s] : kNames)
    if (name == s) return d;
  return std::nullopt;
}

Driver driver_from_string(const std::string& name) {
  if (auto d = parse_driver(name)) return *d;
  fail_invalid("unknown network driver \"" + name + "\" (bridge, macvlan, ipvlan, overlay)");
}

std::string to_string(Driver d) {
  for (const auto& [k, s] : kNames)
    if (k == d) return s;
  return "bridge";  // unreachable: every enumerator has a name
}

}  // namespace ocinet
