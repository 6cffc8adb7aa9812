#include "config/annotations.h"

#include <algorithm>

#include "config/validate.h"
#include "base/error.h"

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

// A container has one interface per network: a network named twice would get two.
void each_network_once(const std::string& key, const std::vector<std::string>& items) {
  for (auto it = items.begin(); it != items.end(); ++it)
    if (std::find(items.begin(), it, *it) != it) bad(key, "network \"" + *it + "\" is listed twice");
}

// resolv.conf lines are read into 256-byte buffers: musl ignores a longer line outright, and
// glibc before 2.26 kept only 256 bytes of the search list. So `keyword`, a space, the items
// with a space between each, and the newline fit in 255 characters.
void check_resolv_line(const std::string& key, const std::string& keyword, const std::vector<std::string>& items) {
  size_t chars = items.size() - 1;
  for (const auto& i : items) chars += i.size();
  const size_t max = 255 - keyword.size() - 2;
  if (chars > max)
    bad(key, "list too long (" + std::to_string(chars) + " characters with spaces, at most " + std::to_string(max) + ")");
}

std::vector<std::string> search_list(const std::string& key, const std::string& v) {
  auto items = split_list(v);
  for (const auto& d : items)
    if (!is_valid_search_domain(d)) bad(key, "invalid search domain \"" + d + "\" (want a DNS name, at most one trailing dot)");
  // glibc before 2.26 (MAXDNSRCH) used the first 6 and ignored the rest without a word.
  if (items.size() > 6) bad(key, "at most 6 search domains, got " + std::to_string(items.size()));
  check_resolv_line(key, "search", items);
  return items;
}

// The options of glibc's resolv.conf(5). A number above glibc's cap (ndots 15, timeout 30,
// attempts 5) would be cut down without a word; timeout:0 and attempts:0 leave musl's resolver
// (Alpine) giving up at once or dividing by zero, so those start at 1.
struct ResolverOption {
  const char* name;
  int min = -1, max = -1;  // min < 0: the option takes no argument
};
constexpr ResolverOption kResolverOptions[] = {
    {"ndots", 0, 15}, {"timeout", 1, 30}, {"attempts", 1, 5}, {"rotate"}, {"no-check-names"}, {"inet6"},
    {"ip6-bytestring"}, {"ip6-dotint"}, {"no-ip6-dotint"}, {"edns0"}, {"single-request"},
    {"single-request-reopen"}, {"no-tld-query"}, {"use-vc"}, {"no-reload"}, {"trust-ad"}, {"no-aaaa"}};

std::string known_resolver_options() {
  std::string s;
  for (const auto& o : kResolverOptions) s += (s.empty() ? "" : ", ") + std::string(o.name) + (o.min < 0 ? "" : ":n");
  return s;
}

void check_resolver_option(const std::string& key, const std::string& opt) {
  const auto colon = opt.find(':');
  const std::string name = opt.substr(0, colon), arg = colon == std::string::npos ? "" : opt.substr(colon + 1);
  const ResolverOption* o = nullptr;
  for (const auto& known : kResolverOptions)
    if (name == known.name) o = &known;
  if (!o) bad(key, "unknown option \"" + opt + "\" (known: " + known_resolver_options() + ")");
  if (o->min < 0) {
    if (colon != std::string::npos) bad(key, "option \"" + opt + "\": " + name + " takes no argument");
    return;
  }
  const bool number = !arg.empty() && arg.size() <= 3 && arg.find_first_not_of("0123456789") == std::string::npos;
  if (!number || std::stoi(arg) < o->min || std::stoi(arg) > o->max)
    bad(key, "option \"" + opt + "\": " + name + " takes a number from " + std::to_string(o->min) + " to " +
                 std::to_string(o->max));
}

std::vector<std::string> option_list(const std::string& key, const std::string& v) {
  auto items = split_list(v);
  for (const auto& o : items) check_resolver_option(key, o);
  check_resolv_line(key, "options", items);
  return items;
}

void read_mode(const std::string& key, const std::string& v, Annotations& a) {
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
}

std::vector<Link> link_list(const std::string& key, const std::string& v) {
  std::vector<Link> out;
  for (auto& item : split_list(v)) {
    Link l;
    auto colon = item.find(':');
    l.name = item.substr(0, colon);
    if (colon != std::string::npos) l.alias = item.substr(colon + 1);
    if (!is_valid_name(l.name) || (colon != std::string::npos && !is_valid_name(l.alias)))
      bad(key, "invalid link \"" + item + "\" (want name[:alias])");
    out.push_back(l);
  }
  return out;
}

std::vector<ExtraHost> hosts_list(const std::string& key, const std::string& v) {
  std::vector<ExtraHost> out;
  for (auto& item : split_list(v)) {
    // hostname:ip, where ip may be IPv6 (contains ':'): split at the first ':'.
    auto colon = item.find(':');
    if (colon == std::string::npos) bad(key, "invalid entry \"" + item + "\" (want hostname:ip)");
    ExtraHost h{item.substr(0, colon), item.substr(colon + 1)};
    if (!is_valid_hostname(h.hostname)) bad(key, "invalid hostname \"" + h.hostname + "\"");
    if (!parse_ipv4(h.ip) && !is_valid_ipv6(h.ip)) bad(key, "invalid IP address \"" + h.ip + "\"");
    out.push_back(h);
  }
  return out;
}

int mtu_value(const std::string& key, const std::string& v) {
  if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos) bad(key, "invalid MTU \"" + v + "\"");
  int mtu = std::stoi(v);
  if (mtu < 68 || mtu > 65535) bad(key, "MTU " + v + " out of range 68-65535");
  return mtu;
}

// One io.ocinet.* annotation: `key` as written (for messages), `k` without the prefix.
void read_annotation(const std::string& key, const std::string& k, const std::string& v, Annotations& a) {
  if (k == "mode") {
    read_mode(key, v, a);
  } else if (k == "network") {
    a.networks = names_list(key, v);
    each_network_once(key, a.networks);
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
    a.links = link_list(key, v);
  } else if (k == "aliases") {
    a.aliases = names_list(key, v);
  } else if (k == "hosts") {
    a.hosts = hosts_list(key, v);
  } else if (k == "dns") {
    a.dns = ip_list(key, v);
  } else if (k == "dns-search") {
    a.dns_search = search_list(key, v);
  } else if (k == "dns-options") {
    a.dns_options = option_list(key, v);
  } else if (k == "mtu") {
    a.mtu = mtu_value(key, v);
  } else {
    bad(key, "unknown annotation (known: mode, network, name, ip, ip6, mac, ports, links, aliases, hosts, dns, dns-search, dns-options, mtu)");
  }
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
    // Checks common to every value, before any is read.
    if (has_control_chars(key) || key.size() > 64) fail_invalid("invalid annotation key");
    if (v.size() > kMaxAnnotationLen)
      bad(key, "value too long (" + std::to_string(v.size()) + " bytes, at most " + std::to_string(kMaxAnnotationLen) + ")");
    if (has_control_chars(v)) bad(key, "value contains control characters");
    read_annotation(key, key.substr(10), v, a);
  }
  return a;
}

}  // namespace ocinet
