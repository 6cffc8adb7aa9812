// ocinet's set and map elements: built from the firewall's input, written as nft commands
// (libnftables) and as nf_tables netlink messages (the fast path). Every value that reaches a
// command is re-printed from its parsed binary form or checked against a short character list
// and quoted: no input can add syntax to a command.
#pragma once
#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "netcore/firewall/firewall.h"
#include "netcore/firewall/nft_ruleset.h"
#include "netcore/nfnetlink.h"

namespace ocinet::nft {

struct Element {
  const char* set;      // name in the ocinet table
  std::string key;      // e.g. 6 . 8080, or 6 . 8000-8999 in a *_range map
  std::string data;     // maps only, e.g. 172.17.0.2 . 80
  std::string comment;  // unquoted; empty for none
  std::string label;    // published ports only, for messages: "tcp/8080", "udp 127.0.0.1:5353"
  // The kernel's encoding of key and data (netlink fast path), where one is needed.
  std::string key_bytes;
  std::string data_bytes;
  const Family* family = &kIpv4;
  std::string key_end_bytes{};  // an interval's last key (a *_range map's element), else ""

  // "key [comment "…"] [: data]", as an element list of nft commands writes it.
  std::string item() const {
    std::string c = key;
    if (!comment.empty()) c += " comment \"" + comment + "\"";
    if (!data.empty()) c += " : " + data;
    return c;
  }
  std::string add() const { return "add element " + std::string(family->table) + " " + set + " { " + item() + " }\n"; }
  std::string del() const { return "delete element " + std::string(family->table) + " " + set + " { " + key + " }\n"; }
  // nft 1.0.6 has no `destroy`: adding the element first makes the delete succeed whether or
  // not it was there, within one transaction. For a map, a key that now holds other data (not
  // this element, then) makes the add fail instead of deleting someone else's entry; so does,
  // in a *_range map, an interval that overlaps someone else's (nft deletes the element that
  // holds an interval given, whatever its bounds).
  std::string add_then_del() const {
    Element bare = *this;
    bare.comment.clear();
    return bare.add() + del();
  }
};

// The elements grouped by table and set, in the order each set first appears: one element list
// per set (nft parses one command of a thousand elements far faster than a thousand commands).
std::vector<std::vector<const Element*>> by_set(const std::vector<Element>& elems);
bool same_place(const Element& a, const Element& b);

// Where a publication goes: its map for single ports, the map for port-keeping ranges.
struct PubMaps {
  const char* one;
  const char* range;
  bool by_addr;  // keyed by the host address too
};
constexpr PubMaps kPubAddr{"pub_addr", "pub_addr_range", true};
constexpr PubMaps kPubAny{"pub_any", "pub_any_range", false};
constexpr PubMaps kPubLo6{"pub_lo6", "pub_lo6_range", false};
bool is_range_map(const char* set);

std::string ip_text(in_addr a);
std::string ip_text(const in6_addr& a);
std::string quoted(const std::string& s);
std::string addr_port(const std::string& addr, int port);
std::string endpoint_comment(const std::string& tag);
std::string network_comment(const std::string& name);
// Quoted into commands: stricter than the kernel, which allows almost any byte; '*' would
// also turn a match into a wildcard.
bool valid_iface(const std::string& name);
std::string check_iface(const std::string& name);  // throws when !valid_iface

// A network's elements, its bridge first in each family (network_is_set_up looks it up).
std::vector<Element> network_elements(const NetworkRules& net);
// An endpoint's published ports, and its bridge port when it has no IPv6.
std::vector<Element> endpoint_elements(const EndpointRules& ep);

// `add element` commands for the elements, one per set.
std::string add_commands(const std::vector<Element>& elems);
// As Element::add_then_del, one add and one delete per set.
std::string add_then_del_commands(const std::vector<Element>& elems);

// The same as netlink messages, for elements with their encoding (key_bytes).
std::vector<NlMessage> add_messages(const std::vector<Element>& elems);
std::vector<NlMessage> add_then_del_messages(const std::vector<Element>& elems);
// Whether e (a key of one of ocinet's sets) is there.
bool has_element(NfNetlink& nl, const Element& e);
// Whether ocinet's table of family f exists.
bool has_table(NfNetlink& nl, const Family& f);

}  // namespace ocinet::nft
