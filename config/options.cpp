#include "config/options.h"

#include <cstdlib>

#include "base/error.h"

namespace ocinet {

GlobalOptions options_from_env() {
  GlobalOptions o;
  auto env = [](const char* name, std::string& dst) {
    // secure_getenv: a setuid-style caller must not steer a root process through env.
    if (const char* v = secure_getenv(name); v && *v) dst = v;
  };
  env("OCINET_CONFIG", o.config);
  env("OCINET_RUN_DIR", o.run_dir);
  env("OCINET_LIB_DIR", o.lib_dir);
  env("OCINET_LOG_LEVEL", o.log_level);
  return o;
}

std::vector<std::string> take_global_options(const std::vector<std::string>& args, GlobalOptions& o) {
  std::vector<std::string> rest;
  const std::pair<const char*, std::string*> known[] = {
      {"--config", &o.config}, {"--run-dir", &o.run_dir}, {"--lib-dir", &o.lib_dir}, {"--log-level", &o.log_level}};
  for (size_t i = 0; i < args.size(); i++) {
    bool taken = false;
    for (auto& [flag, dst] : known) {
      std::string f = flag;
      if (args[i] == f) {
        if (i + 1 >= args.size()) fail_invalid(f + ": missing value");
        *dst = args[++i];
        taken = true;
      } else if (args[i].compare(0, f.size() + 1, f + "=") == 0) {
        *dst = args[i].substr(f.size() + 1);
        taken = true;
      }
      if (taken) break;
    }
    if (!taken) rest.push_back(args[i]);
  }
  for (auto* dir : {&o.run_dir, &o.lib_dir})
    if (dir->empty() || (*dir)[0] != '/') fail_invalid("state directories must be absolute paths");
  return rest;
}

}  // namespace ocinet
