// Owning pointers for libnl objects and the one way a libnl error becomes an ocinet error,
// shared by every file that talks rtnetlink through libnl.
#pragma once
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include <memory>
#include <string>

#include "base/error.h"

namespace ocinet {

struct LinkDel { void operator()(rtnl_link* l) const { rtnl_link_put(l); } };
struct AddrDel { void operator()(rtnl_addr* a) const { rtnl_addr_put(a); } };
struct RouteDel { void operator()(rtnl_route* r) const { rtnl_route_put(r); } };
struct NeighDel { void operator()(rtnl_neigh* n) const { rtnl_neigh_put(n); } };
struct NlAddrDel { void operator()(nl_addr* a) const { nl_addr_put(a); } };
struct CacheDel { void operator()(nl_cache* c) const { nl_cache_free(c); } };
using LinkPtr = std::unique_ptr<rtnl_link, LinkDel>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrDel>;
using RoutePtr = std::unique_ptr<rtnl_route, RouteDel>;
using NeighPtr = std::unique_ptr<rtnl_neigh, NeighDel>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDel>;
using CachePtr = std::unique_ptr<nl_cache, CacheDel>;

// System failure (exit 2): "<what>: <libnl's reason>".
[[noreturn]] inline void nl_fail(const std::string& what, int err) { fail_system(what + ": " + nl_geterror(err), 0); }

}  // namespace ocinet
