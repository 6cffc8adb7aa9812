#include "netcore/firewall/nft_listing.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/error.h"

namespace ocinet::nft {
namespace {

using nlohmann::json;

int json_int(const json& v, int max) {
  int n = v.get<int>();
  if (n < 0 || n > max) throw std::out_of_range("number out of range");
  return n;
}

std::string json_ip(const json& v, const Family& f) {
  const std::string s = v.get<std::string>();
  if (f.af == AF_INET6) {
    in6_addr a{};
    if (inet_pton(AF_INET6, s.c_str(), &a) != 1) throw std::invalid_argument("not an IPv6 address");
    return ip_text(a);
  }
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw std::invalid_argument("not an IPv4 address");
  return ip_text(a);
}

std::string json_iface(const json& v) {
  const std::string s = v.get<std::string>();
  if (!valid_iface(s)) throw std::invalid_argument("not an ocinet interface name");
  return quoted(s);
}

// A host prefix (/32, /128) is listed as a bare address, anything wider as {"prefix": {"addr", "len"}}.
std::string json_cidr(const json& v, const Family& f) {
  const int bits = f.af == AF_INET6 ? 128 : 32;
  if (v.is_string()) return json_ip(v, f) + "/" + std::to_string(bits);
  const json& p = v.at("prefix");
  return json_ip(p.at("addr"), f) + "/" + std::to_string(json_int(p.at("len"), bits));
}

std::string json_key(const char* set, const json& v, const Family& f) {
  const std::string s = set;
  if (s == "bridges" || s == "internal_bridges" || s == "localnet_bridges" || s == "closed_bridges" || s == "v4only_ports")
    return json_iface(v);
  if (s == "same_bridge") {
    const json& c = v.at("concat");
    return json_iface(c.at(0)) + " . " + json_iface(c.at(1));
  }
  if (s == "subnets" || s == "masq_subnets") return json_cidr(v, f);
  const json& c = v.at("concat");
  // A *_range map lists an interval as {"range": [first, last]} (one of a single port, bare).
  auto port = [&](const json& p) {
    if (!p.is_object()) return std::to_string(json_int(p, 65535));
    const json& r = p.at("range");
    const int first = json_int(r.at(0), 65535), last = json_int(r.at(1), 65535);
    return std::to_string(first) + (last != first ? "-" + std::to_string(last) : "");
  };
  if (s == "pub_any" || s == "pub_lo6" || s == "pub_any_range" || s == "pub_lo6_range")
    return std::to_string(json_int(c.at(0), 255)) + " . " + port(c.at(1));
  return json_ip(c.at(0), f) + " . " + std::to_string(json_int(c.at(1), 255)) + " . " + port(c.at(2));
}

std::string json_data(const char* set, const json& v, const Family& f) {
  if (is_range_map(set)) return json_ip(v, f);  // the container address alone: the port is kept
  const json& c = v.at("concat");
  return addr_port(json_ip(c.at(0), f), json_int(c.at(1), 65535));
}

constexpr const char* kSets[] = {"pub_addr", "pub_any",      "pub_lo6",     "pub_addr_range", "pub_any_range",
                                 "pub_lo6_range", "bridges",     "internal_bridges", "localnet_bridges",
                                 "closed_bridges", "same_bridge", "subnets", "masq_subnets", "v4only_ports"};

const char* known_set(const std::string& name) {
  for (const char* s : kSets)
    if (name == s) return s;
  return nullptr;
}

// "6 . 8000-8999" -> "6 . ", 8000, 8999 (a key's last field is its port or port interval).
bool split_ports(const std::string& key, std::string& prefix, int& first, int& last) {
  const auto dot = key.rfind(" . ");
  if (dot == std::string::npos) return false;
  prefix = key.substr(0, dot + 3);
  const std::string ports = key.substr(dot + 3);
  const auto dash = ports.find('-');
  try {
    first = std::stoi(ports.substr(0, dash));
    last = dash == std::string::npos ? first : std::stoi(ports.substr(dash + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Whether two keys of one set collide: equal, or in a *_range map, overlapping intervals.
bool keys_collide(const char* set, const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (!is_range_map(set)) return false;
  std::string pa, pb;
  int fa, la, fb, lb;
  return split_ports(a, pa, fa, la) && split_ports(b, pb, fb, lb) && pa == pb && fa <= lb && fb <= la;
}

}  // namespace

std::vector<Element> parse_listing(const std::string& listing) {
  std::vector<Element> out;
  if (listing.empty()) return out;
  try {
    const json doc = json::parse(listing);
    for (const json& obj : doc.at("nftables")) {
      const bool is_map = obj.contains("map");
      const json* set = is_map ? &obj["map"] : obj.contains("set") ? &obj["set"] : nullptr;
      if (!set || set->value("table", "") != kTableName || !set->contains("elem")) continue;
      const std::string family = set->value("family", "");
      const Family* fam = nullptr;
      for (const Family* f : kFamilies)
        if (family == f->json) fam = f;
      if (!fam) continue;
      const char* name = known_set(set->value("name", ""));
      if (!name) continue;
      for (const json& item : set->at("elem")) {
        // A map element is [key, data]; a key with a comment is {"elem": {"val": key, "comment": …}}.
        const json& key = is_map ? item.at(0) : item;
        const bool wrapped = key.is_object() && key.contains("elem");
        Element e{name, "", "", wrapped ? key["elem"].value("comment", "") : "", "", "", "", fam};
        try {
          e.key = json_key(name, wrapped ? key["elem"].at("val") : key, *fam);
          if (is_map) e.data = json_data(name, item.at(1), *fam);
        } catch (const std::exception&) {
          e.key.clear();
        }
        out.push_back(std::move(e));
      }
    }
  } catch (const std::exception& e) {
    fail_system(std::string("firewall: unexpected listing from libnftables: ") + e.what(), 0);
  }
  return out;
}

std::vector<Element> parse_listings(const std::vector<std::string>& listings) {
  std::vector<Element> out;
  for (const std::string& listing : listings)
    for (Element& e : parse_listing(listing)) out.push_back(std::move(e));
  return out;
}

std::vector<Element> elements_with_comment(const std::vector<Element>& listed, const std::string& comment) {
  std::vector<Element> found;
  for (const Element& e : listed) {
    if (e.comment != comment) continue;
    if (e.key.empty()) fail_system(std::string("firewall: an element of ") + e.set + " with comment \"" + comment + "\" does not read back", 0);
    found.push_back(e);
  }
  return found;
}

std::string owner_in(const std::vector<Element>& listed, const Element& e) {
  for (const Element& l : listed)
    if (same_place(l, e) && keys_collide(e.set, l.key, e.key)) return l.comment.empty() ? "an entry without comment" : l.comment;
  return "";
}

}  // namespace ocinet::nft
