// libip4tc and libip6tc behind one set of names: the two families' entry layouts and the
// libraries' functions, each library opened when its family is first used.
#pragma once
#include <libiptc/libiptc.h>
extern "C" {  // unlike libiptc.h, it does not say so itself
#include <libiptc/libip6tc.h>
}
#include <netinet/in.h>

#include "netcore/dynlib.h"

namespace ocinet::ipt {

// The two families: their entry layouts and libiptc/libip6tc, behind one set of names.

// libip4tc and libip6tc are opened when a family is first used, not linked (netcore/dynlib.h
// says why). Both export the same functions under their own prefix; one list serves both.
#define OCINET_IPTC_FUNCTIONS(X, P)                                                                     \
  X(P, init) X(P, free) X(P, strerror) X(P, is_chain) X(P, create_chain) X(P, append_entry)            \
  X(P, insert_entry) X(P, first_rule) X(P, next_rule) X(P, get_target) X(P, delete_num_entry)           \
  X(P, flush_entries) X(P, delete_chain) X(P, commit)
#define OCINET_IPTC_FIELD(P, name) decltype(&P##_##name) name;
#define OCINET_IPTC_RESOLVE(P, name) lib.sym(api.name, #P "_" #name);
#define OCINET_IPTC_API(P, soname)                                                 \
  struct Api {                                                                     \
    OCINET_IPTC_FUNCTIONS(OCINET_IPTC_FIELD, P)                                    \
  };                                                                               \
  static const Api& lib() {                                                        \
    static const Api loaded = [] {                                                 \
      DynLib lib(soname, "firewall: loading " soname " (iptables backend)");       \
      Api api{};                                                                   \
      OCINET_IPTC_FUNCTIONS(OCINET_IPTC_RESOLVE, P)                                \
      return api;                                                                  \
    }(); /* a throw leaves it unset: the next call retries */                      \
    return loaded;                                                                 \
  }

struct Inet4 {
  static constexpr bool kV6 = false;
  static constexpr const char* kCommand = "iptables";
  static constexpr const char* kTableNames = "/proc/net/ip_tables_names";
  using Addr = in_addr;
  using Ip = ipt_ip;
  using Entry = ipt_entry;
  OCINET_IPTC_API(iptc, "libip4tc.so.2")
  static Ip& ip(Entry* e) { return e->ip; }
};

struct Inet6 {
  static constexpr bool kV6 = true;
  static constexpr const char* kCommand = "ip6tables";
  static constexpr const char* kTableNames = "/proc/net/ip6_tables_names";
  using Addr = in6_addr;
  using Ip = ip6t_ip6;
  using Entry = ip6t_entry;
  OCINET_IPTC_API(ip6tc, "libip6tc.so.2")
  static Ip& ip(Entry* e) { return e->ipv6; }
};
}  // namespace ocinet::ipt
