// Global options shared by both binaries. The built-in defaults live here and nowhere else.
#pragma once
#include <string>
#include <vector>

namespace ocinet {

struct GlobalOptions {
  std::string config = "/etc/ocinet/ocinet.json";
  std::string run_dir = "/run/ocinet";
  std::string lib_dir = "/var/lib/ocinet";
  std::string log_level = "info";
};

// Defaults overridden by OCINET_CONFIG, OCINET_RUN_DIR, OCINET_LIB_DIR, OCINET_LOG_LEVEL.
GlobalOptions options_from_env();
// Takes --config/--run-dir/--lib-dir/--log-level (as "--opt V" or "--opt=V") out of args,
// applying them over `opts`; returns the remaining arguments. Throws Invalid on a missing value.
std::vector<std::string> take_global_options(const std::vector<std::string>& args, GlobalOptions& opts);

}  // namespace ocinet
