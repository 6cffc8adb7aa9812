// The network's driver, parsed once where a network definition or an endpoint record is read.
// On disk it stays Docker's string ("bridge", "macvlan", "ipvlan", "overlay").
#pragma once
#include <optional>
#include <string>

namespace ocinet {

enum class Driver { bridge, macvlan, ipvlan, overlay };

// The one parser: nullopt for a name that is not a driver.
std::optional<Driver> parse_driver(const std::string& name);
// The same, Invalid naming the value (a definition or record names an unknown driver).
Driver driver_from_string(const std::string& name);
std::string to_string(Driver d);

// Only bridge networks go through the host's firewall (NAT, published ports, isolation):
// sub-interfaces bypass the host's netfilter, overlay traffic leaves through its VXLAN device.
inline bool has_nat(Driver d) { return d == Driver::bridge; }
// macvlan and ipvlan: the container's interface hangs off a parent link, with no host-side end.
inline bool is_subinterface(Driver d) { return d == Driver::macvlan || d == Driver::ipvlan; }

}  // namespace ocinet
