// The endpoint record: RUN/endpoints/<id>.json. Written before the first kernel change and
// updated as each step is *about* to happen (write-ahead), so a crash at any point leaves a
// record that says exactly what may exist. Teardown and rollback replay its steps backwards.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/annotations.h"
#include "config/validate.h"
#include "netcore/driver_kind.h"
#include "config/ports.h"
#include "netcore/step_log.h"

namespace ocinet {

struct Attachment {
  std::string network;
  Driver driver = Driver::bridge;
  std::string bridge;       // host bridge device
  std::string host_ifname;  // host end of the veth
  std::string ifname;       // inside the container: eth0, eth1, ...
  std::string ip;           // "" until the lease is taken
  int prefix = 0;
  std::string gateway;
  std::string mac;
  int mtu = 0;
  std::string ip6;          // dual-stack networks only
  int prefix6 = 0;
  std::string gateway6;
  std::vector<std::string> aliases;  // network-scoped names (io.ocinet.aliases, connect --alias)
  bool internal = false;       // the network is --internal: never the default route
  bool default_route = false;  // the container's default route(s) go through this attachment
};

// Docker's rule: the default route goes through the first attachment that has a gateway and is
// not on an --internal network. Returns its index, or -1 when none qualifies.
int default_route_candidate(const std::vector<Attachment>& attachments);

struct EndpointRecord {
  std::string id;
  std::string name;
  std::string hostname;            // config.json hostname, "" when none
  std::string mode = "bridge";
  std::string state = "creating";  // creating -> ready -> removing (teardown under way)
  int pid = 0;
  std::string netns;               // path the hook configured
  std::string netns_id;            // its "dev:ino", to tell it from a later netns at that path
  std::string owner;               // mode container: the id whose netns this one joined
  std::string rootfs;              // where its /etc/hosts lives, for peers' name discovery
  std::string hosts_source;        // bind-mount source of /etc/hosts, "" when none
  std::string resolv_source;       // bind-mount source of /etc/resolv.conf, "" when none
  std::vector<Attachment> attachments;
  std::vector<PortMapping> ports;
  StepLog steps;  // write-ahead: what may exist, in the order it was made
  // What its firewall comments and peers' hosts-line markers carry: the whole id. Records of
  // releases before whole-id keys have none; theirs carried the first 12 characters.
  std::string tag;
  // For the name server: links (io.ocinet.links; only this container resolves them) and the
  // container's own upstreams (io.ocinet.dns), which override its networks' and the host's.
  std::vector<Link> links;
  std::vector<std::string> dns;

  bool ready() const { return state == "ready"; }
  bool removing() const { return state == "removing"; }
  std::string short_id() const { return display_id(id); }
};

class RecordStore {
 public:
  explicit RecordStore(std::string run_dir);
  std::optional<EndpointRecord> load(const std::string& id) const;
  void save(const EndpointRecord& r) const;
  void remove(const std::string& id) const;
  std::vector<std::string> list_ids() const;

 private:
  std::string path_of(const std::string& id) const;
  std::string dir_;
};

}  // namespace ocinet
