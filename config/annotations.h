// The container's io.ocinet.* annotations, parsed and validated before anything is changed.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/ports.h"

namespace ocinet {

struct Link {
  std::string name;
  std::string alias;  // "" = none
};

struct ExtraHost {
  std::string hostname;
  std::string ip;
};

struct Annotations {
  std::string mode = "bridge";     // bridge, host, none, container, macvlan, ipvlan, overlay
  bool mode_given = false;         // io.ocinet.mode present (else the network's driver decides)
  std::string mode_container;      // for container:<id-or-name>
  std::vector<std::string> networks;
  std::optional<std::string> name;  // io.ocinet.name, else the runtime's name annotation
  bool name_given = false;          // io.ocinet.name present: the name must be unique
  std::optional<std::string> ip, ip6, mac;
  std::vector<PortSpec> ports;
  std::vector<Link> links;
  std::vector<std::string> aliases;
  std::vector<ExtraHost> hosts;
  std::vector<std::string> dns, dns_search, dns_options;
  std::optional<int> mtu;
};

// Throws ocinet::Error (Invalid) naming the key: unknown io.ocinet.* key, control bytes,
// oversized or malformed values. Non-ocinet annotations are ignored, except the runtime's
// container-name annotations, used as the default name.
Annotations parse_annotations(const std::map<std::string, std::string>& annotations);

}  // namespace ocinet
