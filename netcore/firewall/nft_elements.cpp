#include "netcore/firewall/nft_elements.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "netcore/firewall/fw_input.h"

namespace ocinet::nft {


std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string ip_text(const in6_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

std::string comment_for(const char* prefix, const std::string& id, const char* what) {
  return fw_comment(prefix, id, what, kMaxComment);
}

std::string endpoint_comment(const std::string& tag) { return comment_for("ocinet:", tag, "endpoint tag"); }
std::string network_comment(const std::string& name) { return comment_for("ocinet-net:", name, "network name"); }

bool valid_iface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  for (char ch : name)
    if (!fw_name_char(ch)) return false;
  return true;
}

std::string check_iface(const std::string& name) {
  if (!valid_iface(name)) fail_invalid("firewall: bridge name \"" + name + "\" is not a valid interface name");
  return name;
}


bool same_place(const Element& a, const Element& b) { return a.family == b.family && std::strcmp(a.set, b.set) == 0; }

std::vector<std::vector<const Element*>> by_set(const std::vector<Element>& elems) {
  std::vector<std::vector<const Element*>> groups;
  for (const Element& e : elems) {
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return same_place(*g[0], e); });
    if (g == groups.end())
      groups.push_back({&e});
    else
      g->push_back(&e);
  }
  return groups;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// nft's encoding of a concatenation: each field in network byte order, padded to 4 bytes (one
// register); an interface name fills IFNAMSIZ bytes.
struct Encoder {
  std::string bytes;
  Encoder& field(const void* p, size_t len) {
    bytes.append(static_cast<const char*>(p), len);
    bytes.append((4 - len % 4) % 4, '\0');
    return *this;
  }
  Encoder& addr(in_addr a) { return field(&a, sizeof a); }
  Encoder& addr(const in6_addr& a) { return field(&a, sizeof a); }
  Encoder& proto(int p) {
    const uint8_t b = static_cast<uint8_t>(p);
    return field(&b, 1);
  }
  Encoder& port(uint16_t p) {
    const uint16_t be = htons(p);
    return field(&be, 2);
  }
  Encoder& iface(const std::string& name) {
    char buf[IFNAMSIZ] = {};
    std::memcpy(buf, name.data(), std::min(name.size(), sizeof buf - 1));
    return field(buf, sizeof buf);
  }
};

std::string addr_port(const std::string& addr, int port) { return addr + " . " + std::to_string(port); }

// Every bridge comes first in its family's elements, with its encoding: the fast path looks it
// up to learn whether the network is set up in that table (all of a network's elements go in
// one transaction). That is its element of closed_bridges, the newest set, so that a table
// made before the set existed is found out and upgraded (kUpgrade4, kUpgrade6).
std::vector<Element> network_elements(const NetworkRules& net) {
  const std::string c = network_comment(net.name);
  const std::string br = quoted(check_iface(net.bridge));
  fw_check(net);
  std::vector<Element> out;
  auto add_family = [&](const Family& f, const std::string& subnet) {
    auto in = [&](const char* set, const std::string& key) { return Element{set, key, "", c, "", "", "", &f}; };
    out.push_back(in("closed_bridges", br));
    out.back().key_bytes = Encoder().iface(net.bridge).bytes;
    if (&f == &kIpv4) out.push_back(in("localnet_bridges", br));
    out.push_back(in("bridges", br));
    out.push_back(in("same_bridge", br + " . " + br));
    out.push_back(in("subnets", subnet));
    out.push_back(net.internal ? in("internal_bridges", br) : in("masq_subnets", subnet));
  };
  // An interval set stores the network, not the address: the prefixes come masked.
  add_family(kIpv4, net.subnet->str());
  if (net.subnet6.has_value()) add_family(kIpv6, net.subnet6->str());
  return out;
}

bool is_range_map(const char* set) {
  const std::string s = set;
  return s.size() > 6 && s.compare(s.size() - 6, 6, "_range") == 0;
}

std::vector<Element> endpoint_elements(const EndpointRules& ep) {
  const std::string c = endpoint_comment(ep.tag);
  fw_check(ep);
  const in_addr to4 = *ep.container_ip;
  const bool has6 = ep.container_ip6.has_value();
  const in6_addr to6 = has6 ? *ep.container_ip6 : in6_addr{};
  std::vector<Element> out;
  for (const PublishedPort& pm : ep.ports) {
    const int proto = int(pm.proto);
    const PortHosts hosts = fw_port_hosts(pm, has6);
    const std::string label = std::string(proto_name(pm.proto)) + " ";
    auto publish = [&](const Family& f, const auto& to, const auto& host, const PubMaps& maps, const std::string& host_text) {
      const std::string prefix = (maps.by_addr ? ip_text(host) + " . " : "") + std::to_string(proto) + " . ";
      auto key_bytes = [&](uint16_t port) {
        Encoder e;
        if (maps.by_addr) e.addr(host);
        return e.proto(proto).port(port).bytes;
      };
      if (pm.is_range() && pm.keeps_port()) {  // one interval, DNAT'd to the address alone
        const std::string ports = pm.host_ports();
        out.push_back({maps.range, prefix + ports, ip_text(to), c, label + host_text + ports, key_bytes(pm.host_port),
                       Encoder().addr(to).bytes, &f, key_bytes(pm.host_last)});
        return;
      }
      // One port, or a range shifted to other container ports: one element per port (nft has
      // no port offset: see the top of this file).
      const std::string to_text = ip_text(to);
      for (int i = 0; i < pm.count(); i++) {
        const uint16_t host_port = uint16_t(pm.host_port + i), ct_port = uint16_t(pm.container_port + i);
        out.push_back({maps.one, prefix + std::to_string(host_port), addr_port(to_text, ct_port), c,
                       label + host_text + std::to_string(host_port), key_bytes(host_port),
                       Encoder().addr(to).port(ct_port).bytes, &f});
      }
    };
    if (hosts.v4)
      publish(kIpv4, to4, hosts.addr4.value_or(in_addr{}), hosts.addr4 ? kPubAddr : kPubAny,
              hosts.addr4 ? ip_text(*hosts.addr4) + ":" : std::string("0.0.0.0:"));
    if (hosts.v6)
      publish(kIpv6, to6, hosts.addr6.value_or(in6_addr{}),
              !hosts.addr6 ? kPubAny : IN6_IS_ADDR_LOOPBACK(&*hosts.addr6) ? kPubLo6 : kPubAddr,
              hosts.addr6 ? "[" + ip_text(*hosts.addr6) + "]:" : std::string("[::]:"));
  }
  if (!has6 && !ep.host_port.empty())  // an IPv4-only network: no IPv6 through its bridge port
    out.push_back({"v4only_ports", quoted(check_iface(ep.host_port)), "", c, "", Encoder().iface(ep.host_port).bytes, "",
                   &kBridge});
  return out;
}

std::string add_commands(const std::vector<Element>& elems) {
  std::string out;
  for (const auto& group : by_set(elems)) {
    out += "add element " + std::string(group[0]->family->table) + " " + group[0]->set + " { ";
    for (size_t i = 0; i < group.size(); i++) out += (i ? ", " : "") + group[i]->item();
    out += " }\n";
  }
  return out;
}

std::string add_then_del_commands(const std::vector<Element>& elems) {
  std::string out;
  for (const auto& group : by_set(elems)) {
    const std::string where = std::string(group[0]->family->table) + " " + group[0]->set + " { ";
    std::string add = "add element " + where, del = "delete element " + where;
    for (size_t i = 0; i < group.size(); i++) {
      Element bare = *group[i];
      bare.comment.clear();
      add += (i ? ", " : "") + bare.item();
      del += (i ? ", " : "") + bare.key;
    }
    out += add + " }\n" + del + " }\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The fast path: nf_tables netlink without libnftables. It knows only element messages, and
// only elements whose encoding was built above from validated values.

namespace {

// libnftnl's tag for an element comment in NFTA_SET_ELEM_USERDATA (NFTNL_UDATA_SET_ELEM_COMMENT),
// so that nft lists the comment exactly as if it had written the element itself.
constexpr uint8_t kUdataElemComment = 0;

// One element of an element list: key (and the interval's end), data, comment.
void put_element(NlMessage& m, const Element& e, bool with_data) {
  size_t elem = m.begin(NFTA_LIST_ELEM);
  size_t key = m.begin(NFTA_SET_ELEM_KEY);
  m.attr(NFTA_DATA_VALUE, e.key_bytes);
  m.end(key);
  if (!e.key_end_bytes.empty()) {  // a concatenation of intervals: first values, then last ones
    size_t key_end = m.begin(NFTA_SET_ELEM_KEY_END);
    m.attr(NFTA_DATA_VALUE, e.key_end_bytes);
    m.end(key_end);
  }
  if (with_data) {
    if (!e.data_bytes.empty()) {  // a map's element; a set's has none
      size_t data = m.begin(NFTA_SET_ELEM_DATA);
      m.attr(NFTA_DATA_VALUE, e.data_bytes);
      m.end(data);
    }
    if (!e.comment.empty()) {
      std::string udata{static_cast<char>(kUdataElemComment), static_cast<char>(e.comment.size() + 1)};
      udata += e.comment;
      udata += '\0';
      m.attr(NFTA_SET_ELEM_USERDATA, udata);
    }
  }
  m.end(elem);
}

// Element messages for elements of one set (same family and set), as many per message as
// its element list holds: an attribute's length is 16 bits.
constexpr size_t kMaxElementList = 60000;

std::vector<NlMessage> element_messages(uint16_t msg, uint16_t flags, const std::vector<const Element*>& group,
                                        bool with_data) {
  std::vector<NlMessage> out;
  for (size_t i = 0; i < group.size();) {
    const Element& first = *group[i];
    NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | msg, flags, first.family->nfproto);
    m.attr_str(NFTA_SET_ELEM_LIST_TABLE, kTableName).attr_str(NFTA_SET_ELEM_LIST_SET, first.set);
    const size_t start = m.size();
    size_t list = m.begin(NFTA_SET_ELEM_LIST_ELEMENTS);
    do put_element(m, *group[i++], with_data);
    while (i < group.size() && m.size() - start < kMaxElementList);
    m.end(list);
    out.push_back(std::move(m));
  }
  return out;
}

NlMessage element_message(uint16_t msg, uint16_t flags, const Element& e, bool with_data) {
  return std::move(element_messages(msg, flags, {&e}, with_data)[0]);
}

}  // namespace

std::vector<NlMessage> add_messages(const std::vector<Element>& elems) {
  std::vector<NlMessage> out;
  for (const auto& group : by_set(elems))
    for (auto& m : element_messages(NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, group, true))
      out.push_back(std::move(m));
  return out;
}

// As Element::add_then_del: gone whether or not it was there, and never another endpoint's.
std::vector<NlMessage> add_then_del_messages(const std::vector<Element>& elems) {
  std::vector<NlMessage> out;
  std::vector<Element> bare(elems);
  for (Element& e : bare) e.comment.clear();
  for (const auto& group : by_set(bare)) {
    for (auto& m : element_messages(NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK, group, true))
      out.push_back(std::move(m));
    for (auto& m : element_messages(NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK, group, false)) out.push_back(std::move(m));
  }
  return out;
}

bool has_element(NfNetlink& nl, const Element& e) {
  return nl.request(element_message(NFT_MSG_GETSETELEM, NLM_F_REQUEST, e, false),
                    (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM) == 0;
}

bool has_table(NfNetlink& nl, const Family& f) {
  NlMessage m((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST, f.nfproto);
  m.attr_str(NFTA_TABLE_NAME, kTableName);
  return nl.request(std::move(m), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE) == 0;
}

}  // namespace ocinet::nft
