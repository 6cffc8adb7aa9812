// Overlay networks: multi-host L2 over VXLAN, with the shared state in etcd.
//
// etcd layout (every key under kPrefix, values JSON):
//   net/<name>          the network definition (NetworkDef JSON, driver "overlay"); its VNI in
//                       options["com.docker.network.driver.overlay.vxlanid_list"] as Docker has it
//   vni/<vni>           the network name holding that VNI (uniqueness)
//   ipam/<name>/<ip>    {"container", "host"}: an address taken by a create-only transaction that
//                       also checks the network's mod_revision (a network removed meanwhile fails it)
//   ep/<name>/<id>      the endpoint: {"id","name","hostname","aliases","ip","mac","vtep","host"},
//                       bound to the host's lease, so a host that dies takes its endpoints with it
//
// Each host runs `ocinet agent`: it holds the host's lease (keepalive), writes RUN/overlay/host.json
// (host id, VTEP address, lease id) for the hook, creates the per-network bridge (ocov-<id10>)
// and VXLAN device (ocvx-<id10>) and keeps their FDB and ARP-proxy entries in step with the
// remote endpoints (watch). The hook takes addresses, registers endpoints and seeds the
// devices from one range read, so a container is reachable before the agent hears of it.
//
// Local state stays authoritative for this host's keys: an etcd write that fails during
// teardown or rollback is left to the agent's resync, which deletes this host's keys whose
// container has no endpoint record here, and re-registers those that have one.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "netcore/container_files.h"
#include "netcore/endpoint_record.h"
#include "netcore/netlink.h"
#include "netcore/network_store.h"
#include "netcore/overlay/etcd.h"
#include "netcore/paths.h"

namespace ocinet::overlay {

inline constexpr const char* kPrefix = "/ocinet/v1/";
inline constexpr const char* kVniOption = "com.docker.network.driver.overlay.vxlanid_list";
inline constexpr int kDefaultMtu = 1450;  // 1500 minus the 50 bytes of VXLAN encapsulation
inline constexpr int kVxlanPort = 4789;   // IANA

std::string net_key(const std::string& name);
std::string ipam_prefix(const std::string& net);
std::string ipam_key(const std::string& net, const std::string& ip);
std::string ep_prefix(const std::string& net);
std::string ep_key(const std::string& net, const std::string& id);

std::string bridge_name(const NetworkDef& net);  // ocov-<id10>
std::string vxlan_name(const NetworkDef& net);   // ocvx-<id10>
uint32_t vni_of(const NetworkDef& net);

// This host, as the agent registered it.
struct HostInfo {
  std::string host;  // stable random id of this host (LIB/overlay/host-id)
  std::string vtep;  // underlay IPv4 address VXLAN packets leave from
  int64_t lease = 0;
};
std::string host_file(const Paths& paths);  // RUN/overlay/host.json
std::optional<HostInfo> load_host(const Paths& paths);
void save_host(const Paths& paths, const HostInfo& h);

struct Endpoint {
  std::string id, name, hostname, ip, mac, vtep, host, network;
  std::vector<std::string> aliases;
};
std::string endpoint_json(const Endpoint& e);
std::optional<Endpoint> endpoint_from(const EtcdKv& kv);  // nullopt for a malformed value
std::string ipam_value(const std::string& container, const std::string& host);

Etcd connect(const AdminConfig& cfg, long timeout_ms = 3000);

// --- network definitions ---
struct StoredNetwork {
  NetworkDef def;
  int64_t mod_revision = 0;
};
std::optional<StoredNetwork> get_network(Etcd& etcd, const std::string& name);
std::vector<NetworkDef> list_networks(Etcd& etcd);
// Validates and stores the definition (network and VNI keys created in one transaction).
// Invalid when the name is taken (here or in etcd) or the request is malformed.
NetworkDef create_network(Etcd& etcd, const AdminConfig& cfg, const NetworkCreateRequest& req,
                          const std::vector<Ipv4Net>& local_taken);
// Invalid while any endpoint holds an address on it.
void remove_network(Etcd& etcd, const std::string& name);

// --- addresses ---
// Takes an address of `net` for container `id` (static when `want`), conflict-free across
// hosts. Invalid when the subnet is full, the static address is taken, or the network was
// removed since `net_rev`.
uint32_t allocate(Etcd& etcd, const NetworkDef& net, int64_t net_rev, const std::string& id, const std::string& host,
                  std::optional<uint32_t> want);
// Releases the address if it is still `id`'s; with ip "" finds it by owner.
void release(Etcd& etcd, const std::string& network, const std::string& ip, const std::string& id, const std::string& host);

// --- endpoints ---
void register_endpoint(Etcd& etcd, const HostInfo& me, const EndpointRecord& rec, const Attachment& a);
std::vector<Endpoint> endpoints_on(Etcd& etcd, const std::string& network);

// --- data plane, in the calling thread's netns ---
// The network's bridge and VXLAN device, up. Idempotent and safe against a concurrent creator;
// when both exist and are up it costs one lookup each.
struct Devices {
  int bridge = 0, vxlan = 0;  // ifindexes
};
Devices ensure_devices(NlSocket& nl, const NetworkDef& net, const std::string& vtep);
// Setup of one attachment: the devices, then the veth on the bridge; returns the VXLAN
// device's ifindex (for seeding the remote endpoints).
int attach(NlSocket& nl, const NetworkDef& net, const std::string& vtep, int ns_fd, const Attachment& a);
void remove_devices(NlSocket& nl, const NetworkDef& net);
// FDB entry (MAC -> remote VTEP) and ARP-proxy entry (IP -> MAC) for a remote endpoint.
void add_remote(NlSocket& nl, int vxlan_ifindex, const Endpoint& e);
void remove_remote(NlSocket& nl, int vxlan_ifindex, const Endpoint& e);
// The permanent FDB (mac -> vtep) and neighbour (ip -> mac) entries on the VXLAN device.
struct InstalledEntries {
  std::vector<std::pair<std::string, std::string>> fdb;    // mac, vtep
  std::vector<std::pair<std::string, std::string>> neigh;  // ip, mac
};
InstalledEntries installed_entries(NlSocket& nl, int vxlan_ifindex);

// Hosts-file entries of remote endpoints, for name discovery across hosts.
HostsEntry hosts_entry(const Endpoint& e);

}  // namespace ocinet::overlay
