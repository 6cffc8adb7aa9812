// ocinet's nf_tables tables: their names, the text that creates them, and the text that brings
// a table made by an earlier ocinet up to date (nft_ruleset.cpp says why each rule is there).
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ocinet::nft {

constexpr const char* kTableName = "ocinet";

extern const char kSkeleton[];
extern const char kSkeleton6[];
extern const char kSkeletonBridge[];
extern const char kUpgrade4[];
extern const char kUpgrade6[];
// The forward chain of both skeletons, for the upgrades of both families.
std::string closed_forward_upgrade(const char* family);

// One of ocinet's tables: as commands spell it, as JSON listings name its family, as
// netlink numbers it, and how to create it.
struct Family {
  const char* table;     // "ip ocinet"
  const char* json;      // "ip"
  uint8_t nfproto;       // NFPROTO_IPV4
  const char* skeleton;
  int af;                // AF_INET
  const char* upgrade;   // brings a table made by an earlier ocinet up to the skeleton, or nullptr
};
inline constexpr Family kIpv4{"ip ocinet", "ip", NFPROTO_IPV4, kSkeleton, AF_INET, kUpgrade4};
inline constexpr Family kIpv6{"ip6 ocinet", "ip6", NFPROTO_IPV6, kSkeleton6, AF_INET6, kUpgrade6};
inline constexpr Family kBridge{"bridge ocinet", "bridge", NFPROTO_BRIDGE, kSkeletonBridge, AF_BRIDGE, nullptr};
inline constexpr const Family* kFamilies[] = {&kIpv4, &kIpv6, &kBridge};

// nft refuses longer comments (NFTNL_UDATA_COMMENT_MAXLEN).
constexpr size_t kMaxComment = 128;

}  // namespace ocinet::nft
