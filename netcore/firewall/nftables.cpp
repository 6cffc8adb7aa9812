// nftables backend: one table, `ip ocinet`, driven in-process through libnftables (never the
// `nft` binary). The table's chains hold a fixed set of rules that look up sets and maps; a
// container's setup only adds map elements and its teardown deletes them by key, so the cost
// of one more container stays flat however many there are, and no call rewrites a rule.
//
//   pub_addr  map  host addr . proto . port  : container addr . port   (-p 127.0.0.1:53:53/udp)
//   pub_any   map  proto . port              : container addr . port   (-p 8080:80, 0.0.0.0)
//   bridges, internal_bridges  set ifname             every ocinet bridge / the internal ones
//   same_bridge                set ifname . ifname    "br" . "br" for every bridge
//   subnets, masq_subnets      set ipv4 (interval)    every subnet / those NATed on the way out
//
// Endpoint elements carry `comment "ocinet:<tag>"`, network elements `comment
// "ocinet-net:<name>"`: the comment is how remove_endpoint(tag) and remove_network(name), which
// get nothing else, find what to delete. Nothing outside the table is ever touched, and the
// table is never flushed or deleted. The set and map names are family-neutral so that an
// `ip6 ocinet` table can follow with the same layout.
//
// Every value that reaches a command string is either re-printed from its parsed binary form
// (addresses through inet_ntop, protocols and ports as integers) or checked against a short
// character list and quoted (names, tags, bridges): no input can add syntax to a command.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// libnftables.h defines _GNU_SOURCE bare, which g++ predefines as 1: keep ours, skip the warning.
#pragma push_macro("_GNU_SOURCE")
#undef _GNU_SOURCE
#include <nftables/libnftables.h>
#pragma pop_macro("_GNU_SOURCE")

#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netcore/error.h"
#include "netcore/firewall/firewall.h"

namespace ocinet {
namespace {

constexpr const char* kTable = "ip ocinet";

// The whole table, created in one transaction the first time this netns needs it. `create`
// (not `add`) makes a second hook that races us fail with EEXIST instead of adding the rules
// twice; it then adds its elements to the table we made.
//
// Why each rule is there:
// - prerouting: only traffic addressed to this host is port-forwarded, as with Docker. Loopback
//   destinations are left out: a packet from another host addressed to 127.0.0.1 would
//   otherwise be DNAT'd before the routing code could drop it as a martian, and a port
//   published on 127.0.0.1 must not be reachable from other hosts.
// - output: the host's own clients, loopback included (route_localnet is on for ocinet bridges
//   only, so the DNAT'd packets may leave through them).
// - published: specific host addresses first, then every address. A lookup that misses ends
//   the rule without a verdict, so unpublished traffic goes on untouched.
// - postrouting: outbound MASQUERADE for non-internal subnets; hairpin (a container reaching
//   its own or a neighbour's published port through a host address comes back out of a bridge
//   and must be masqueraded, or the reply would skip the un-DNAT; outside clients are not in a
//   subnet, so their address is kept); the host's loopback clients, whose 127/8 source the
//   container could not answer.
// - forward: Docker's isolation, then its accepts. Traffic between two different ocinet
//   bridges is dropped, internal bridges let nothing on or off. Drops are final for the
//   kernel; the accepts only end this table's chain (another table's drop still applies).
constexpr const char* kSkeleton = R"(create table ip ocinet
table ip ocinet {
	map pub_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
	map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
	set bridges { type ifname; }
	set internal_bridges { type ifname; }
	set same_bridge { type ifname . ifname; }
	set subnets { type ipv4_addr; flags interval; }
	set masq_subnets { type ipv4_addr; flags interval; }
	chain published {
		dnat ip to ip daddr . meta l4proto . th dport map @pub_addr
		dnat ip to meta l4proto . th dport map @pub_any
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local jump published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump published
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr @masq_subnets oifname != @bridges masquerade
		ct status dnat ip saddr @subnets oifname @bridges masquerade
		ip saddr 127.0.0.0/8 oifname @bridges masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname . oifname @same_bridge accept
		iifname @bridges oifname @bridges drop
		iifname @internal_bridges drop
		oifname @internal_bridges drop
		oifname @bridges ct state established,related accept
		oifname @bridges ct status dnat accept
		iifname @bridges accept
	}
}
)";

// nft refuses longer comments (NFTNL_UDATA_COMMENT_MAXLEN).
constexpr size_t kMaxComment = 128;

// ---------------------------------------------------------------------------------------------
// libnftables, opened on first use rather than linked: with its dependencies (libnftnl,
// libmnl, libxtables, libjansson, libgmp) it costs ~0.5 ms of dynamic loading, which every
// exec of the hook would pay, also with the iptables backend or no firewall at all. The
// loader's search path is the one the hook started with, as for every library it links.

struct NftApi {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) output_buffer;
  decltype(&nft_ctx_get_error_buffer) error_buffer;
  decltype(&nft_ctx_output_set_flags) set_output_flags;
  decltype(&nft_run_cmd_from_buffer) run;
};

template <class Fn>
void resolve(void* lib, Fn& fn, const char* name) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn) fail_system(std::string("firewall: libnftables.so.1 lacks ") + name, 0);
}

NftApi load_nft_api() {
  // Never closed: the process is short-lived and the library keeps global state.
  void* lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    fail_system(std::string("firewall: loading libnftables: ") + (why ? why : "unknown error"), 0);
  }
  NftApi api{};
  resolve(lib, api.ctx_new, "nft_ctx_new");
  resolve(lib, api.ctx_free, "nft_ctx_free");
  resolve(lib, api.buffer_output, "nft_ctx_buffer_output");
  resolve(lib, api.buffer_error, "nft_ctx_buffer_error");
  resolve(lib, api.output_buffer, "nft_ctx_get_output_buffer");
  resolve(lib, api.error_buffer, "nft_ctx_get_error_buffer");
  resolve(lib, api.set_output_flags, "nft_ctx_output_set_flags");
  resolve(lib, api.run, "nft_run_cmd_from_buffer");
  return api;
}

const NftApi& nft_api() {
  static const NftApi api = load_nft_api();  // a throw leaves it unset: the next call retries
  return api;
}

// What one nft_run_cmd_from_buffer call (one transaction) said.
struct NftResult {
  bool ok = false;
  std::string output;
  std::string error;

  // libnftables reports kernel and lookup failures with strerror() text, which is the only
  // structured part of its messages: "Could not process rule: File exists".
  bool failed_with(int err) const { return !ok && error.find(std::strerror(err)) != std::string::npos; }

  // The first line, without nft's "<input>:1:2-3: Error: " prefix; the lines after it repeat
  // the command and underline it.
  std::string why() const {
    std::string line = error.substr(0, error.find('\n'));
    auto at = line.find("Error: ");
    if (at != std::string::npos) line.erase(0, at + 7);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    return line.empty() ? "libnftables failed without a message" : line;
  }
};

class NftContext {
 public:
  NftContext() : api_(nft_api()) {
    ctx_.reset(api_.ctx_new(NFT_CTX_DEFAULT));
    if (!ctx_) fail_system("firewall: creating the libnftables context", errno);
    // Captured, never printed: the library must not write to the hook's stdout (precreate) or
    // stderr (one error line, printed by main).
    if (api_.buffer_output(ctx_.get()) != 0 || api_.buffer_error(ctx_.get()) != 0)
      fail_system("firewall: buffering libnftables output", 0);
  }

  // Numbers for protocols and ports: listings are parsed back, and no name service is asked.
  NftResult run(const std::string& commands, bool json = false) {
    api_.set_output_flags(ctx_.get(), NFT_CTX_OUTPUT_NUMERIC_ALL | (json ? NFT_CTX_OUTPUT_JSON : 0));
    NftResult r;
    r.ok = api_.run(ctx_.get(), commands.c_str()) == 0;
    // Reading a buffer also empties it for the next run.
    const char* out = api_.output_buffer(ctx_.get());
    const char* err = api_.error_buffer(ctx_.get());
    r.output = out ? out : "";
    r.error = err ? err : "";
    return r;
  }

 private:
  struct Free {
    decltype(&nft_ctx_free) free;
    void operator()(nft_ctx* c) const { free(c); }
  };
  const NftApi& api_;
  std::unique_ptr<nft_ctx, Free> ctx_{nullptr, Free{api_.ctx_free}};
};

[[noreturn]] void nft_fail(const std::string& what, const NftResult& r) {
  fail_system("firewall: " + what + ": " + r.why(), 0);
}

// ---------------------------------------------------------------------------------------------
// Input validation. Everything is checked before libnftables is even loaded, so a bad request
// never touches the kernel.

bool is_name_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
         ch == '.' || ch == ':' || ch == '-';
}

std::string ip_text(in_addr a) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

in_addr parse_ip(const std::string& s, const std::string& what) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv4 address");
  return a;
}

// "a.b.c.d/len" with host bits cleared: an interval set stores the network, not the address.
std::string parse_cidr(const std::string& s, const std::string& what) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash + 1 == s.size() || s.size() - slash > 3)
    fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv4 CIDR");
  int len = 0;
  for (char ch : s.substr(slash + 1)) {
    if (ch < '0' || ch > '9') fail_invalid("firewall: " + what + " \"" + s + "\" is not an IPv4 CIDR");
    len = len * 10 + (ch - '0');
  }
  if (len > 32) fail_invalid("firewall: " + what + " \"" + s + "\" has a prefix longer than 32");
  in_addr a = parse_ip(s.substr(0, slash), what);
  a.s_addr &= len == 0 ? 0 : htonl(0xffffffffu << (32 - len));
  return ip_text(a) + "/" + std::to_string(len);
}

// Comments are the only handle ocinet has on its elements, so anything that could make two
// names collide, be cut short, or end the quoted string is refused.
std::string comment_for(const char* prefix, const std::string& id, const char* what) {
  for (char ch : id)
    if (!is_name_char(ch)) fail_invalid(std::string("firewall: ") + what + " \"" + id + "\" has characters outside [A-Za-z0-9_.:-]");
  std::string c = prefix + id;
  if (id.empty() || c.size() > kMaxComment)
    fail_invalid(std::string("firewall: ") + what + " \"" + id + "\" is empty or too long for an element comment");
  return c;
}

std::string endpoint_comment(const std::string& tag) { return comment_for("ocinet:", tag, "endpoint tag"); }
std::string network_comment(const std::string& name) { return comment_for("ocinet-net:", name, "network name"); }

// Quoted into commands: stricter than the kernel, which allows almost any byte; '*' would
// also turn a match into a wildcard.
bool valid_iface(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return false;
  for (char ch : name)
    if (!is_name_char(ch)) return false;
  return true;
}

std::string check_iface(const std::string& name) {
  if (!valid_iface(name)) fail_invalid("firewall: bridge name \"" + name + "\" is not a valid interface name");
  return name;
}

int parse_proto(const std::string& p) {
  if (p == "tcp") return IPPROTO_TCP;
  if (p == "udp") return IPPROTO_UDP;
  if (p == "sctp") return IPPROTO_SCTP;
  fail_invalid("firewall: unsupported protocol \"" + p + "\" (tcp, udp or sctp)");
}

// ---------------------------------------------------------------------------------------------
// Elements, in nft syntax.

struct Element {
  const char* set;      // name in the ocinet table
  std::string key;      // e.g. 6 . 8080
  std::string data;     // maps only, e.g. 172.17.0.2 . 80
  std::string comment;  // unquoted; empty for none
  std::string label;    // published ports only, for messages: "tcp/8080", "udp 127.0.0.1:5353"

  std::string add() const {
    std::string c = "add element " + std::string(kTable) + " " + set + " { " + key;
    if (!comment.empty()) c += " comment \"" + comment + "\"";
    if (!data.empty()) c += " : " + data;
    return c + " }\n";
  }
  std::string del() const { return "delete element " + std::string(kTable) + " " + set + " { " + key + " }\n"; }
  // nft 1.0.6 has no `destroy`: adding the element first makes the delete succeed whether or
  // not it was there, within one transaction. For a map, a key that now holds other data (not
  // this element, then) makes the add fail instead of deleting someone else's entry.
  std::string add_then_del() const {
    Element bare = *this;
    bare.comment.clear();
    return bare.add() + del();
  }
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string addr_port(const std::string& addr, int port) { return addr + " . " + std::to_string(port); }

std::vector<Element> network_elements(const NetworkRules& net) {
  const std::string c = network_comment(net.name);
  const std::string br = quoted(check_iface(net.bridge));
  const std::string subnet = parse_cidr(net.subnet, "subnet");
  auto in = [&](const char* set, const std::string& key) { return Element{set, key, "", c, ""}; };
  return {in("bridges", br), in("same_bridge", br + " . " + br), in("subnets", subnet),
          net.internal ? in("internal_bridges", br) : in("masq_subnets", subnet)};
}

std::vector<Element> endpoint_elements(const EndpointRules& ep) {
  const std::string c = endpoint_comment(ep.tag);
  const std::string to = ip_text(parse_ip(ep.container_ip, "container address"));
  std::vector<Element> out;
  for (const auto& pm : ep.ports) {
    const int proto = parse_proto(pm.proto);
    if (pm.host_port == 0 || pm.container_port == 0) fail_invalid("firewall: port mapping with port 0");
    const std::string key = std::to_string(proto) + " . " + std::to_string(pm.host_port);
    const std::string data = addr_port(to, pm.container_port);
    // 0.0.0.0 is Docker's spelling of "every address".
    const in_addr host = pm.host_ip.empty() ? in_addr{} : parse_ip(pm.host_ip, "host address");
    if (host.s_addr == INADDR_ANY)
      out.push_back({"pub_any", key, data, c, pm.proto + "/" + std::to_string(pm.host_port)});
    else
      out.push_back({"pub_addr", ip_text(host) + " . " + key, data, c,
                     pm.proto + " " + ip_text(host) + ":" + std::to_string(pm.host_port)});
  }
  return out;
}

std::string commands(const std::vector<Element>& elems, std::string (Element::*render)() const) {
  std::string out;
  for (const auto& e : elems) out += (e.*render)();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading elements back from a JSON listing: only for the removals that get a tag or a network
// name and nothing else. Keys and data are rebuilt from validated values, never copied.

using nlohmann::json;

int json_int(const json& v, int max) {
  int n = v.get<int>();
  if (n < 0 || n > max) throw std::out_of_range("number out of range");
  return n;
}

std::string json_ip(const json& v) {
  in_addr a{};
  if (inet_pton(AF_INET, v.get<std::string>().c_str(), &a) != 1) throw std::invalid_argument("not an IPv4 address");
  return ip_text(a);
}

std::string json_iface(const json& v) {
  const std::string s = v.get<std::string>();
  if (!valid_iface(s)) throw std::invalid_argument("not an ocinet interface name");
  return quoted(s);
}

// A /32 is listed as a bare address, anything wider as {"prefix": {"addr", "len"}}.
std::string json_cidr(const json& v) {
  if (v.is_string()) return json_ip(v) + "/32";
  const json& p = v.at("prefix");
  return json_ip(p.at("addr")) + "/" + std::to_string(json_int(p.at("len"), 32));
}

std::string json_key(const char* set, const json& v) {
  const std::string s = set;
  if (s == "bridges" || s == "internal_bridges") return json_iface(v);
  if (s == "same_bridge") {
    const json& c = v.at("concat");
    return json_iface(c.at(0)) + " . " + json_iface(c.at(1));
  }
  if (s == "subnets" || s == "masq_subnets") return json_cidr(v);
  const json& c = v.at("concat");
  if (s == "pub_any") return std::to_string(json_int(c.at(0), 255)) + " . " + std::to_string(json_int(c.at(1), 65535));
  return json_ip(c.at(0)) + " . " + std::to_string(json_int(c.at(1), 255)) + " . " +
         std::to_string(json_int(c.at(2), 65535));
}

std::string json_data(const json& v) {
  const json& c = v.at("concat");
  return addr_port(json_ip(c.at(0)), json_int(c.at(1), 65535));
}

constexpr const char* kSets[] = {"pub_addr", "pub_any", "bridges", "internal_bridges", "same_bridge", "subnets", "masq_subnets"};

const char* known_set(const std::string& name) {
  for (const char* s : kSets)
    if (name == s) return s;
  return nullptr;
}

// Every element of ocinet's sets and maps in the output of a JSON `list`. An element that does
// not read back as ocinet writes them (one added by hand?) is kept with an empty key.
std::vector<Element> parse_listing(const std::string& listing) {
  std::vector<Element> out;
  if (listing.empty()) return out;
  try {
    const json doc = json::parse(listing);
    for (const json& obj : doc.at("nftables")) {
      const bool is_map = obj.contains("map");
      const json* set = is_map ? &obj["map"] : obj.contains("set") ? &obj["set"] : nullptr;
      if (!set || set->value("table", "") != "ocinet" || set->value("family", "") != "ip" || !set->contains("elem"))
        continue;
      const char* name = known_set(set->value("name", ""));
      if (!name) continue;
      for (const json& item : set->at("elem")) {
        // A map element is [key, data]; a key with a comment is {"elem": {"val": key, "comment": …}}.
        const json& key = is_map ? item.at(0) : item;
        const bool wrapped = key.is_object() && key.contains("elem");
        Element e{name, "", "", wrapped ? key["elem"].value("comment", "") : "", ""};
        try {
          e.key = json_key(name, wrapped ? key["elem"].at("val") : key);
          if (is_map) e.data = json_data(item.at(1));
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

// The elements whose comment is exactly `comment`.
std::vector<Element> elements_with_comment(const std::vector<std::string>& listings, const std::string& comment) {
  std::vector<Element> found;
  for (const std::string& listing : listings)
    for (Element& e : parse_listing(listing)) {
      if (e.comment != comment) continue;
      if (e.key.empty()) fail_system(std::string("firewall: an element of ") + e.set + " with comment \"" + comment + "\" does not read back", 0);
      found.push_back(std::move(e));
    }
  return found;
}

// The comment of the element that holds e's key, "" when the key is free.
std::string owner_in(const std::vector<std::string>& listings, const Element& e) {
  for (const std::string& listing : listings)
    for (const Element& l : parse_listing(listing))
      if (std::strcmp(l.set, e.set) == 0 && l.key == e.key) return l.comment.empty() ? "an entry without comment" : l.comment;
  return "";
}

// ---------------------------------------------------------------------------------------------

class NftablesBackend final : public FirewallBackend {
 public:
  const char* name() const override { return "nftables"; }

  void add_endpoint(const NetworkRules& net, const EndpointRules& ep) override {
    std::vector<Element> elems = network_elements(net);
    const std::vector<Element> published = endpoint_elements(ep);
    elems.insert(elems.end(), published.begin(), published.end());
    const std::string adds = commands(elems, &Element::add);
    const std::string what = "adding endpoint " + ep.tag;

    // The fast path, every time but the first: elements only. Network elements that already
    // exist are no-ops.
    NftResult r = nft().run(adds);
    if (r.ok) return;
    if (r.failed_with(ENOENT)) {
      // No table yet in this netns.
      NftResult b = nft().run(kSkeleton + adds);
      if (b.ok) return;
      if (!b.failed_with(EEXIST)) nft_fail(what, b);
      r = nft().run(adds);  // another hook created it in between
      if (r.ok) return;
    }
    // A published key already maps elsewhere (EEXIST; EBUSY on newer kernels). When it is this
    // endpoint's own, from an earlier setup of the same container, the new values replace it
    // in the same transaction, as the iptables backend replaces its rules.
    if (!r.failed_with(EEXIST) && !r.failed_with(EBUSY)) nft_fail(what, r);
    const std::string comment = endpoint_comment(ep.tag);
    const std::vector<std::string> listings = list_published();
    for (const Element& e : published) {
      const std::string owner = owner_in(listings, e);
      if (!owner.empty() && owner != comment) fail_invalid("firewall: " + e.label + " is already published by " + owner);
    }
    r = nft().run(commands(elements_with_comment(listings, comment), &Element::add_then_del) + adds);
    if (!r.ok) nft_fail(what, r);
  }

  void remove_endpoint_rules(const EndpointRules& ep) override {
    const std::vector<Element> elems = endpoint_elements(ep);
    if (elems.empty()) return;
    delete_elements(elems, "removing endpoint " + ep.tag);
  }

  void remove_endpoint(const std::string& tag) override {
    const std::string comment = endpoint_comment(tag);
    // Listing and deleting are two transactions: a concurrent change can make the delete
    // refer to a key that is gone or reused, which delete_elements treats as gone.
    const std::vector<Element> elems = elements_with_comment(list_published(), comment);
    if (!elems.empty()) delete_elements(elems, "removing endpoint " + tag);
  }

  void remove_network(const std::string& name) override {
    const std::string comment = network_comment(name);
    // One listing of the (small) sets; the maps, which grow with containers, are not in it.
    NftResult r = nft().run(std::string("list sets table ") + kTable, true);
    if (!r.ok) {
      if (r.failed_with(ENOENT)) return;  // no table: nothing of the network's
      nft_fail("listing ocinet's sets", r);
    }
    const std::vector<Element> elems = elements_with_comment({r.output}, comment);
    if (!elems.empty()) delete_elements(elems, "removing network " + name);
  }

 private:
  NftContext& nft() {
    if (!nft_) nft_ = std::make_unique<NftContext>();
    return *nft_;
  }

  // JSON listings of the two published-port maps ("" for a missing one). nft 1.0.6 lists one
  // set per command correctly: with two `list` commands in one buffer the first one fails.
  std::vector<std::string> list_published() {
    std::vector<std::string> out;
    for (const char* map : {"pub_addr", "pub_any"}) {
      NftResult r = nft().run(std::string("list map ") + kTable + " " + map, true);
      if (!r.ok && !r.failed_with(ENOENT)) nft_fail(std::string("listing ") + map, r);
      out.push_back(r.ok ? r.output : "");
    }
    return out;
  }

  // Deletes exactly these elements; absent ones (and map keys that now hold another
  // endpoint's data) count as removed. One transaction, unless it fails: then one per
  // element, so that one key taken by someone else does not keep the others in place.
  void delete_elements(const std::vector<Element>& elems, const std::string& what) {
    NftResult r = nft().run(commands(elems, &Element::add_then_del));
    if (r.ok || r.failed_with(ENOENT)) return;  // ENOENT: no table or set, so nothing to delete
    if (!r.failed_with(EEXIST) && !r.failed_with(EBUSY)) nft_fail(what, r);
    for (const Element& e : elems) {
      r = nft().run(e.add_then_del());
      if (!r.ok && !r.failed_with(ENOENT) && !r.failed_with(EEXIST) && !r.failed_with(EBUSY)) nft_fail(what, r);
    }
  }

  std::unique_ptr<NftContext> nft_;
};

// RAII for the probe's socket.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

// One NFT_MSG_GETGEN over a raw nfnetlink socket: the kernel answers it only when nf_tables
// is there, and it costs a few microseconds, with neither libnftables nor a listing.
bool nftables_available() {
  Fd s{socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)};
  if (s.fd < 0) return false;
  struct {
    nlmsghdr nh;
    nfgenmsg nfg;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.nfg.nfgen_family = AF_UNSPEC;
  req.nfg.version = NFNETLINK_V0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s.fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return false;
  // The kernel queues its answer (or an error) before sendto returns: never wait.
  alignas(nlmsghdr) char buf[512];
  ssize_t n = recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return false;
  const auto* nh = reinterpret_cast<const nlmsghdr*>(buf);
  return NLMSG_OK(nh, static_cast<unsigned>(n)) && nh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN);
}

std::unique_ptr<FirewallBackend> make_nftables_backend() { return std::make_unique<NftablesBackend>(); }

}  // namespace ocinet
