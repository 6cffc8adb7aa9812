// /etc/hosts, /etc/resolv.conf and /etc/hostname inside a container. ocinet's lines sit
// between marker comments so updates and removal touch only them; every other line is kept.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ocinet {

struct HostsEntry {
  std::string ip;
  std::vector<std::string> names;  // first is the canonical name
};

struct ResolvConf {
  std::vector<std::string> nameservers;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

inline constexpr const char* kBlockBegin = "# BEGIN ocinet (managed, do not edit between these lines)";
inline constexpr const char* kBlockEnd = "# END ocinet";

// Pure renderers (unit-tested). They return `existing` with ocinet's block replaced by
// `block_lines` (inserted at the top when there was none); foreign lines are kept in order.
// An empty `block_lines` removes the block.
std::string merge_block(const std::string& existing, const std::vector<std::string>& block_lines);
std::vector<std::string> hosts_lines(const std::vector<HostsEntry>& entries);  // includes localhost lines
std::vector<std::string> resolv_lines(const ResolvConf& conf);

// The host's resolvers from a resolv.conf text, minus loopback ones (they would point at the
// container's own lo). Returns {} when none is left.
// With keep_loopback (host mode: the container shares the host's lo), loopback resolvers stay.
std::vector<std::string> host_nameservers(const std::string& resolv_text, bool keep_loopback = false);
// search and options of a resolv.conf text as the resolver reads them: the last `search` line
// wins, `options` lines add up. Pure (unit-tested).
ResolvConf parse_resolv_conf(const std::string& resolv_text, bool keep_loopback = false);
// A container's resolv.conf pointed at the embedded name server (127.0.0.11) when it joins a
// network that has one (Docker rewrites it then too): ocinet's block keeps its search and
// options lines, its nameservers become 127.0.0.11 alone, and ndots:0 is added unless an ndots
// is there. Unchanged when the block names 127.0.0.11 already. Pure (unit-tested).
std::string resolv_for_name_server(const std::string& resolv_text);
// The host's resolv.conf (`resolv_conf`), read bounded. With systemd-resolved's stub (127.0.0.53,
// dropped as loopback) and no other resolver, the upstreams it uses, from `resolved_conf`.
// keep_loopback: the reader shares the host's lo (host mode keeps the stub, as Docker copies the
// host's file). replace_stub: the stub alone gives way to its upstreams even so (the name server,
// which runs in the host's netns: issue 20 wants the real upstreams); kept when those list none.
inline constexpr const char* kHostResolvConf = "/etc/resolv.conf";
inline constexpr const char* kResolvedConf = "/run/systemd/resolve/resolv.conf";
ResolvConf host_resolv_conf(bool keep_loopback, bool replace_stub = false, const std::string& resolv_conf = kHostResolvConf,
                            const std::string& resolved_conf = kResolvedConf);

// Where a container file lives: the bind-mount source when config.json mounts a file at that
// destination, else the same path under the rootfs, resolved without leaving it.
struct ContainerFileTarget {
  std::string rootfs;                      // absolute host path of the rootfs
  std::string relpath;                     // e.g. "etc/hosts"
  std::optional<std::string> bind_source;  // absolute host path from config.json mounts
};

// Reads the current content ("" when the file does not exist yet). Throws ocinet::Error
// (Invalid) when the path is a symlink leading out of the rootfs, a directory, a FIFO or other
// non-regular file, or larger than 1 MiB.
std::string read_container_file(const ContainerFileTarget& t);
// Writes the whole content. Under the rootfs: temp file + rename in the same directory, opened
// with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS); a bind source is rewritten in place
// (a rename would not reach the mount). Missing parent directories are an Invalid error.
void write_container_file(const ContainerFileTarget& t, const std::string& content);

// The same for several files of one container, each directory resolved once (a setup writes
// three files in /etc): the rootfs and /etc are opened once, not twice per file. A file read
// through it is not looked at again to be written: the new file takes the owner and mode seen
// by the read.
class ContainerFiles {
 public:
  ContainerFiles();
  ~ContainerFiles();
  std::string read(const ContainerFileTarget& t);
  void write(const ContainerFileTarget& t, const std::string& content);

 private:
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace ocinet
