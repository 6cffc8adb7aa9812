#include "config/annotations.h"

#include "config/validate.h"
#include "netcore/error.h"

namespace ocinet {
namespace {

constexpr const char* kPrefix = "io.ocinet.";

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto comma = v.find(',', start);
    out.push_back(v.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

[[noreturn]] void bad(const std::string& key, const std::string& why) { fail_invalid(key + ": " + why); }

std::vector<std::string> names_list(const std::string& key, const std::string& v) {
  auto items = split_list(v);
  for (auto& n : items)
    if (!is_valid_name(n)) bad(key, "invalid name \"" + n + "\" (want [A-Za-z0-9][A-Za-z0-9_.-]*, at most 63 chars)");
  return items;
}

std::vector<std::string> ip_list(const std::string& key, const std::string& v) {
  auto items = split_list(v);
  for (auto& ip : items)
    if (!parse_ipv4(ip) && !is_valid_ipv6(ip)) bad(key, "invalid IP address \"" + ip + "\"");
  return items;
}

std::vector<std::string> token_list(const std::string& key, const std::string& v, bool hostname) {
  auto items = split_list(v);
  for (auto& t : items) {
    bool ok = hostname ? is_valid_hostname(t) : !t.empty() && t.size() <= 64;
    for (char c : t) ok = ok && c != ' ' && c != '\t';
    if (!ok) bad(key, "invalid value \"" + t + "\"");
  }
  return items;
}

}  // namespace

Annotations parse_annotations(const std::map<std::string, std::string>& ann) {
  Annotations a;
  // Runtime-provided names come first so that io.ocinet.name overrides them.
  for (const char* k : {"io.kubernetes.cri-o.ContainerName", "io.kubernetes.container.name"}) {
    auto it = ann.find(k);
    if (it != ann.end() && is_valid_name(it->second)) a.name = it->second;
  }
  for (const auto& [key, v] : ann) {
    if (key.compare(0, 10, kPrefix) != 0) continue;
    if (has_control_chars(key) || key.size() > 64) fail_invalid("invalid annotation key");
    if (v.size() > kMaxAnnotationLen)
      bad(key, "value too long (" + std::to_string(v.size()) + " bytes, at most " + std::to_string(kMaxAnnotationLen) + ")");
    if (has_control_chars(v)) bad(key, "value contains control characters");
    std::string k = key.substr(10);
    if (k == "mode") {
      a.mode_given = true;
      if (v.compare(0, 10, "container:") == 0) {
        a.mode = "container";
        a.mode_container = v.substr(10);
        if (!is_valid_name(a.mode_container, 128)) bad(key, "invalid container reference \"" + a.mode_container + "\"");
      } else if (v == "bridge" || v == "host" || v == "none" || v == "macvlan" || v == "ipvlan" || v == "overlay") {
        a.mode = v;
      } else {
        bad(key, "unknown mode \"" + v + "\" (want bridge, host, none, container:<id>, macvlan, ipvlan or overlay)");
      }
    } else if (k == "network") {
      a.networks = names_list(key, v);
    } else if (k == "name") {
      if (!is_valid_name(v)) bad(key, "invalid name \"" + v + "\"");
      a.name = v;
      a.name_given = true;
    } else if (k == "ip") {
      if (!parse_ipv4(v)) bad(key, "invalid IPv4 address \"" + v + "\"");
      a.ip = v;
    } else if (k == "ip6") {
      if (!is_valid_ipv6(v)) bad(key, "invalid IPv6 address \"" + v + "\"");
      a.ip6 = v;
    } else if (k == "mac") {
      if (!is_valid_unicast_mac(v)) bad(key, "invalid unicast MAC address \"" + v + "\"");
      a.mac = v;
    } else if (k == "ports") {
      if (!v.empty()) a.ports = parse_port_list(v);
    } else if (k == "links") {
      for (auto& item : split_list(v)) {
        Link l;
        auto colon = item.find(':');
        l.name = item.substr(0, colon);
        if (colon != std::string::npos) l.alias = item.substr(colon + 1);
        if (!is_valid_name(l.name) || (colon != std::string::npos && !is_valid_name(l.alias)))
          bad(key, "invalid link \"" + item + "\" (want name[:alias])");
        a.links.push_back(l);
      }
    } else if (k == "aliases") {
      a.aliases = names_list(key, v);
    } else if (k == "hosts") {
      for (auto& item : split_list(v)) {
        // hostname:ip, where ip may be IPv6 (contains ':'): split at the first ':'.
        auto colon = item.find(':');
        if (colon == std::string::npos) bad(key, "invalid entry \"" + item + "\" (want hostname:ip)");
        ExtraHost h{item.substr(0, colon), item.substr(colon + 1)};
        if (!is_valid_hostname(h.hostname)) bad(key, "invalid hostname \"" + h.hostname + "\"");
        if (!parse_ipv4(h.ip) && !is_valid_ipv6(h.ip)) bad(key, "invalid IP address \"" + h.ip + "\"");
        a.hosts.push_back(h);
      }
    } else if (k == "dns") {
      a.dns = ip_list(key, v);
    } else if (k == "dns-search") {
      a.dns_search = token_list(key, v, true);
    } else if (k == "dns-options") {
      a.dns_options = token_list(key, v, false);
    } else if (k == "mtu") {
      if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos) bad(key, "invalid MTU \"" + v + "\"");
      int mtu = std::stoi(v);
      if (mtu < 68 || mtu > 65535) bad(key, "MTU " + v + " out of range 68-65535");
      a.mtu = mtu;
    } else {
      bad(key, "unknown annotation (known: mode, network, name, ip, ip6, mac, ports, links, aliases, hosts, dns, dns-search, dns-options, mtu)");
    }
  }
  return a;
}

}  // namespace ocinet
