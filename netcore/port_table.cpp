#include "netcore/port_table.h"

#include <dirent.h>

#include "config/validate.h"
#include "netcore/error.h"
#include "netcore/fsutil.h"

namespace ocinet {

std::string PortTable::path_of(const PortMapping& m) const {
  return dir_ + "/" + m.proto + "/" + std::to_string(m.host_port) + "/" + (m.host_ip.empty() ? "all" : m.host_ip);
}

std::string PortTable::conflict(const PortMapping& m) const {
  std::string port_dir = dir_ + "/" + m.proto + "/" + std::to_string(m.host_port);
  if (m.host_ip.empty()) {
    // Wildcard: anything published on this port conflicts.
    DIR* d = ::opendir(port_dir.c_str());
    if (!d) return "";
    std::string holder;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (auto h = read_owner_mark(port_dir + "/" + e->d_name)) {
        holder = *h;
        break;
      }
    }
    ::closedir(d);
    return holder;
  }
  for (const std::string& leaf : {std::string("all"), m.host_ip})
    if (auto h = read_owner_mark(port_dir + "/" + leaf)) return *h;
  return "";
}

bool PortTable::try_take(const std::string& owner, const PortMapping& m) {
  if (!conflict(m).empty()) return false;
  return create_owner_mark(path_of(m), owner);
}

std::vector<PortMapping> PortTable::reserve(const std::string& owner, const std::vector<PortSpec>& specs,
                                            const HostBusy& busy) {
  std::vector<PortMapping> taken;
  auto take = [&](const PortMapping& m) { taken.push_back(m); };
  try {
    for (const auto& s : specs) {
      PortMapping m;
      m.host_ip = s.host_ip;
      m.proto = s.proto;
      if (s.host_fixed()) {
        for (int i = 0; i < s.count(); i++) {
          m.host_port = uint16_t(s.host_start + i);
          m.container_port = uint16_t(s.ct_start + i);
          if (!try_take(owner, m)) {
            std::string holder = conflict(m);
            fail_invalid("port " + (m.host_ip.empty() ? "" : m.host_ip + ":") + std::to_string(m.host_port) + "/" +
                         m.proto + " is already published by container " + display_id(holder));
          }
          take(m);
        }
        continue;
      }
      // One host port out of a range (or the dynamic range) for each container port.
      const auto [lo, hi] = host_port_bounds(s);
      for (int i = 0; i < s.count(); i++) {
        m.container_port = uint16_t(s.ct_start + i);
        bool ok = false;
        for (uint32_t p = lo; p <= hi && !ok; p++) {
          m.host_port = uint16_t(p);
          ok = !(busy && busy(m)) && try_take(owner, m);
        }
        if (!ok)
          fail_invalid("no free host port in " + std::to_string(lo) + "-" + std::to_string(hi) + " for container port " +
                       std::to_string(m.container_port) + "/" + m.proto +
                       " (each is published by a container or in use on the host)");
        take(m);
      }
    }
  } catch (...) {
    release(owner, taken);
    throw;
  }
  return taken;
}

void PortTable::release(const std::string& owner, const std::vector<PortMapping>& maps) {
  for (const auto& m : maps) {
    auto holder = read_owner_mark(path_of(m));
    if (holder && *holder == owner) remove_file(path_of(m));
  }
}

}  // namespace ocinet
