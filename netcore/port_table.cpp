#include "netcore/port_table.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/validate.h"
#include "base/error.h"
#include "netcore/fsutil.h"

namespace ocinet {
namespace {

// The leaf of an address: "all" for every address, else the address as the port spec spells it.
std::string leaf_of(const std::string& host_ip) {
  if (host_ip.empty()) return "all";
  // It becomes a file name: an address, nothing else (specs are validated; records are re-read).
  if (host_ip.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos)
    fail_invalid("port table: host address \"" + host_ip + "\" is not an IP address");
  return host_ip;
}

// A port number 1-65535 at p, ended by `end`; p is left after `end`. (Every reservation reads
// every name of its protocol's directory: no allocation per name.)
bool read_port(const char*& p, char end, uint16_t& out) {
  unsigned v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9' && digits <= 5; ++p, ++digits) v = v * 10 + unsigned(*p - '0');
  if (*p != end || digits == 0 || digits > 5 || v == 0 || v > 65535) return false;
  if (end) ++p;
  out = uint16_t(v);
  return true;
}

// "<first>-<last>@<leaf>", a mark's name: the ports, and where the leaf starts.
bool parse_mark(const char* name, uint16_t& first, uint16_t& last, size_t& leaf_at) {
  const char* p = name;
  if (!read_port(p, '-', first) || !read_port(p, '@', last) || last < first || !*p) return false;
  leaf_at = size_t(p - name);
  return true;
}

// Calls f(name, is_dir) for each entry of `dir` (none when it does not exist).
template <class F>
void for_each_entry(const std::string& dir, F f) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return;
    fail_system("port table: reading " + dir, errno);
  }
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') f(e->d_name, e->d_type == DT_DIR);
  ::closedir(d);
}

std::string ports_text(uint16_t first, uint16_t last) {
  return std::to_string(first) + (last > first ? "-" + std::to_string(last) : "");
}

// "127.0.0.1:8000-8999/tcp", as messages name a publication.
std::string what(const std::string& host_ip, uint16_t first, uint16_t last, const std::string& proto) {
  return (host_ip.empty() ? "" : host_ip + ":") + ports_text(first, last) + "/" + proto;
}

void check_proto(const std::string& proto) {
  if (proto != "tcp" && proto != "udp" && proto != "sctp") fail_invalid("port table: unknown protocol \"" + proto + "\"");
}

}  // namespace

std::string PortTable::proto_dir(const std::string& proto) const {
  check_proto(proto);
  return dir_ + "/" + proto;
}

std::string PortTable::path_of(const PortMapping& m) const {
  return proto_dir(m.proto) + "/" + std::to_string(m.host_port) + "-" + std::to_string(m.host_last()) + "@" +
         leaf_of(m.host_ip);
}

std::string PortTable::legacy_path_of(const PortMapping& m) const {
  return proto_dir(m.proto) + "/" + std::to_string(m.host_port) + "/" + leaf_of(m.host_ip);
}

std::vector<PortTable::Held>& PortTable::held(const std::string& proto) {
  auto it = held_.find(proto);
  if (it != held_.end()) return it->second;
  std::vector<Held>& out = held_[proto];
  const std::string dir = proto_dir(proto);
  for_each_entry(dir, [&](const char* name, bool is_dir) {
    Held h;
    const char* p = name;
    if (!is_dir && parse_mark(name, h.first, h.last, h.leaf_at)) {
      h.name = name;
      out.push_back(std::move(h));
    } else if (is_dir && read_port(p, '\0', h.first)) {  // an earlier release's one-port marks
      for_each_entry(dir + "/" + name, [&](const char* leaf, bool leaf_is_dir) {
        if (leaf_is_dir) return;
        h.last = h.first;
        h.name = std::string(name) + "/" + leaf;
        h.leaf_at = std::strlen(name) + 1;
        out.push_back(h);
      });
    }
  });
  return out;
}

const PortTable::Held* PortTable::overlapping(const PortMapping& m) {
  const std::string leaf = leaf_of(m.host_ip);
  const Held* lowest = nullptr;  // a conflict names the lowest publication in the way
  for (const Held& h : held(m.proto)) {
    if (h.last < m.host_port || h.first > m.host_last() || (lowest && lowest->first <= h.first)) continue;
    const std::string_view addr = h.addr();
    if (leaf == "all" || addr == "all" || addr == leaf) lowest = &h;
  }
  return lowest;
}

void PortTable::take(const std::string& owner, const PortMapping& m) {
  const std::string path = path_of(m);
  if (!create_owner_mark(path, owner)) {  // not seen in the directory: someone without the lock?
    auto holder = read_owner_mark(path);
    fail_invalid("port " + what(m.host_ip, m.host_port, m.host_last(), m.proto) + " is already published by container " +
                 display_id(holder.value_or("?")));
  }
  const std::string name = path.substr(path.rfind('/') + 1);
  held(m.proto).push_back({m.host_port, m.host_last(), name, name.find('@') + 1});
}

std::vector<PortMapping> PortTable::reserve(const std::string& owner, const std::vector<PortSpec>& specs,
                                            const HostBusy& busy) {
  held_.clear();  // read afresh: the caller's lock makes it current until it returns
  std::vector<PortMapping> taken;
  try {
    for (const auto& s : specs) {
      const int n = s.count();
      PortMapping m;
      m.host_ip = s.host_ip;
      m.proto = s.proto;
      m.container_port = s.ct_start;
      auto place = [&](uint32_t first) {
        m.host_port = uint16_t(first);
        m.host_port_end = n > 1 ? uint16_t(first + n - 1) : 0;
      };
      if (s.host_fixed()) {
        place(s.host_start);
        if (const Held* h = overlapping(m)) {
          const auto holder = read_owner_mark(proto_dir(m.proto) + "/" + h->name);
          const uint16_t first = std::max(h->first, m.host_port), last = std::min(h->last, m.host_last());
          fail_invalid("port " + what(m.host_ip, first, last, m.proto) + " is already published by container " +
                       display_id(holder.value_or("?")));
        }
        take(owner, m);
        taken.push_back(m);
        continue;
      }
      // The first n free host ports in a row. Each step moves past what was in the way (a
      // publication or a port in use), so it ends after O(publications + host sockets) steps.
      const auto [lo, hi] = host_port_bounds(s);
      bool found = false;
      for (uint32_t first = lo; first + uint32_t(n) - 1 <= hi;) {
        place(first);
        if (const Held* h = overlapping(m)) {
          first = uint32_t(h->last) + 1;
          continue;
        }
        if (const uint16_t used = busy ? busy(m) : 0) {
          first = std::max<uint32_t>(first, used) + 1;
          continue;
        }
        found = true;
        break;
      }
      if (!found) {
        const std::string ct = ports_text(s.ct_start, s.ct_end) + "/" + s.proto;
        fail_invalid(n == 1 ? "no free host port in " + ports_text(lo, hi) + " for container port " + ct +
                                  " (each is published by a container or in use on the host)"
                            : "no " + std::to_string(n) + " free host ports in a row in " + ports_text(lo, hi) +
                                  " for container ports " + ct + " (published by containers or in use on the host)");
      }
      take(owner, m);
      taken.push_back(m);
    }
  } catch (...) {
    release(owner, taken);
    held_.clear();
    throw;
  }
  held_.clear();
  return taken;
}

void PortTable::release(const std::string& owner, const std::vector<PortMapping>& maps) {
  for (const auto& m : maps) {
    const std::string path = path_of(m);
    auto holder = read_owner_mark(path);
    if (holder && *holder == owner) remove_file(path);
    if (m.is_range()) continue;
    // A record of a release before ranges: its port's mark, and the port's directory once empty.
    const std::string legacy = legacy_path_of(m);
    holder = read_owner_mark(legacy);
    if (holder && *holder == owner) {
      remove_file(legacy);
      ::rmdir(legacy.substr(0, legacy.rfind('/')).c_str());  // ENOTEMPTY: another address's mark is there
    }
  }
}

}  // namespace ocinet
