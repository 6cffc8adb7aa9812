#include "netcore/endpoint_record.h"

#include <dirent.h>

#include <nlohmann/json.hpp>

#include "config/validate.h"
#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

using nlohmann::json;

// A range is one entry with its last host port; a single port has none, as in the records of
// releases before ranges (one entry per port), which load unchanged.
void to_json(json& j, const PortMapping& m) {
  j = json{{"host_ip", m.host_ip}, {"host_port", m.host_port}, {"container_port", m.container_port}, {"proto", m.proto}};
  if (m.is_range()) j["host_port_end"] = m.host_last();
}
void from_json(const json& j, PortMapping& m) {
  m.host_ip = j.at("host_ip").get<std::string>();
  m.host_port = j.at("host_port").get<uint16_t>();
  m.container_port = j.at("container_port").get<uint16_t>();
  m.proto = j.at("proto").get<std::string>();
  m.host_port_end = j.value("host_port_end", uint16_t(0));
}
void to_json(json& j, const Attachment& a) {
  j = json{{"network", a.network}, {"driver", to_string(a.driver)}, {"bridge", a.bridge}, {"host_ifname", a.host_ifname}, {"ifname", a.ifname},
           {"ip", a.ip}, {"prefix", a.prefix}, {"gateway", a.gateway}, {"mac", a.mac}, {"mtu", a.mtu}, {"aliases", a.aliases},
           {"ip6", a.ip6}, {"prefix6", a.prefix6}, {"gateway6", a.gateway6},
           {"internal", a.internal}, {"default_route", a.default_route}};
}
void from_json(const json& j, Attachment& a) {
  a.network = j.at("network").get<std::string>();
  a.bridge = j.at("bridge").get<std::string>();
  a.driver = driver_from_string(j.value("driver", "bridge"));  // records before macvlan have none
  a.host_ifname = j.at("host_ifname").get<std::string>();
  a.ifname = j.at("ifname").get<std::string>();
  a.ip = j.at("ip").get<std::string>();
  a.prefix = j.at("prefix").get<int>();
  a.gateway = j.at("gateway").get<std::string>();
  a.mac = j.at("mac").get<std::string>();
  a.mtu = j.at("mtu").get<int>();
  a.aliases = j.value("aliases", std::vector<std::string>{});
  a.ip6 = j.value("ip6", "");
  a.prefix6 = j.value("prefix6", 0);
  a.gateway6 = j.value("gateway6", "");
  a.internal = j.value("internal", false);
  a.default_route = j.value("default_route", false);
}

int default_route_candidate(const std::vector<Attachment>& attachments) {
  for (size_t i = 0; i < attachments.size(); i++)
    if (!attachments[i].gateway.empty() && !attachments[i].internal) return int(i);
  return -1;
}

RecordStore::RecordStore(std::string run_dir) : dir_(std::move(run_dir) + "/endpoints") {}

std::string RecordStore::path_of(const std::string& id) const {
  // Ids are validated at parse time; re-check because this builds a path.
  if (!is_valid_name(id, kMaxLegacyIdLen)) fail_invalid("invalid container id");
  return dir_ + "/" + id + ".json";
}

std::optional<EndpointRecord> RecordStore::load(const std::string& id) const {
  auto text = read_file(path_of(id));
  if (!text) return std::nullopt;
  try {
    json j = json::parse(*text);
    EndpointRecord r;
    r.id = j.at("id").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.mode = j.at("mode").get<std::string>();
    r.state = j.at("state").get<std::string>();
    r.pid = j.at("pid").get<int>();
    r.netns = j.at("netns").get<std::string>();
    r.rootfs = j.value("rootfs", "");
    r.netns_id = j.value("netns_id", "");
    r.owner = j.value("owner", "");
    r.hostname = j.value("hostname", "");
    r.hosts_source = j.value("hosts_source", "");
    r.resolv_source = j.value("resolv_source", "");
    r.attachments = j.at("attachments").get<std::vector<Attachment>>();
    // Records of earlier releases say nothing of it: their route went through the first
    // attachment with a gateway.
    if (!j.contains("tag"))
      for (auto& a : r.attachments)
        if (!a.gateway.empty()) {
          a.default_route = true;
          break;
        }
    r.ports = j.at("ports").get<std::vector<PortMapping>>();
    for (const auto& step : j.at("steps").get<std::vector<std::string>>()) r.steps.push_back(parse_step(step));
    r.tag = j.value("tag", r.id.substr(0, 12));
    for (const auto& l : j.value("links", json::array()))
      r.links.push_back({l.at("name").get<std::string>(), l.value("alias", "")});
    r.dns = j.value("dns", std::vector<std::string>{});
    return r;
  } catch (const std::exception&) {  // bad JSON, or a driver or step this build does not know
    fail_system("endpoint record " + path_of(id) + " is corrupt", 0);
  }
}

namespace {
std::vector<std::string> step_strings(const StepLog& log) {
  std::vector<std::string> out;
  for (const auto& s : log) out.push_back(to_string(s));
  return out;
}
}  // namespace

void RecordStore::save(const EndpointRecord& r) const {
  json j{{"id", r.id},       {"name", r.name},   {"mode", r.mode},
         {"state", r.state}, {"pid", r.pid},     {"netns", r.netns}, {"rootfs", r.rootfs}, {"hosts_source", r.hosts_source}, {"hostname", r.hostname}, {"netns_id", r.netns_id}, {"owner", r.owner}, {"tag", r.tag},
         {"attachments", r.attachments}, {"ports", r.ports}, {"steps", step_strings(r.steps)}};
  if (!r.links.empty()) {
    json links = json::array();
    for (const auto& l : r.links) links.push_back({{"name", l.name}, {"alias", l.alias}});
    j["links"] = links;
  }
  if (!r.dns.empty()) j["dns"] = r.dns;
  if (!r.resolv_source.empty()) j["resolv_source"] = r.resolv_source;
  write_file_atomic(path_of(r.id), j.dump() + "\n");
}

void RecordStore::remove(const std::string& id) const { remove_file(path_of(id)); }

std::vector<std::string> RecordStore::list_ids() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return ids;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0) ids.push_back(n.substr(0, n.size() - 5));
  }
  ::closedir(d);
  return ids;
}

}  // namespace ocinet
