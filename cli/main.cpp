// ocinet: the admin CLI, shaped like `docker network`: network management, ps, gc, version.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <spdlog/spdlog.h>

#include "cli/network_cmd.h"
#include "config/admin_config.h"
#include "config/bundle_rewrite.h"
#include "config/oci_state.h"
#include "netcore/fsutil.h"
#include "config/options.h"
#include "netcore/endpoint_record.h"
#include "dns/control.h"
#include "netcore/dns_link.h"
#include "base/error.h"
#include "netcore/netns.h"
#include "netcore/overlay/agent.h"
#include "netcore/setup.h"

using namespace ocinet;

namespace {

std::string ports_str(const EndpointRecord& r) {
  std::string s;
  for (auto& p : r.ports) {
    if (!s.empty()) s += ",";
    // Docker's spelling: 0.0.0.0:8080->80/tcp, 0.0.0.0:9000-9009->80-89/tcp.
    auto ports = [&](int first, int last) { return std::to_string(first) + (last > first ? "-" + std::to_string(last) : ""); };
    s += (p.host_ip.empty() ? "0.0.0.0" : p.host_ip) + ":" + ports(p.host_port, p.host_last()) + "->" +
         ports(p.container_port, p.container_last()) + "/" + p.proto;
  }
  return s;
}

void cmd_ps(const GlobalOptions& o, const std::string& format) {
  RecordStore records(o.run_dir);
  nlohmann::json out = nlohmann::json::array();
  std::vector<EndpointRecord> recs;
  for (auto& id : records.list_ids())
    if (auto r = records.load(id)) recs.push_back(*r);
  if (format == "json") {
    for (auto& r : recs) {
      nlohmann::json nets = nlohmann::json::array();
      for (auto& a : r.attachments)
        nets.push_back({{"network", a.network}, {"interface", a.ifname}, {"ip", a.ip + "/" + std::to_string(a.prefix)},
                        {"mac", a.mac}, {"host_interface", a.host_ifname}});
      nlohmann::json ports = nlohmann::json::array();
      for (auto& p : r.ports)
        ports.push_back({{"host_ip", p.host_ip}, {"host_port", p.host_port}, {"host_port_end", p.host_last()},
                         {"container_port", p.container_port}, {"container_port_end", p.container_last()}, {"proto", p.proto}});
      out.push_back({{"id", r.id}, {"name", r.name}, {"mode", r.mode}, {"state", r.state}, {"networks", nets}, {"ports", ports}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  // Short ids only for 64-hex ids: other ids are shown whole, so no two rows look alike.
  int w = 12;
  for (auto& r : recs) w = std::max(w, int(r.short_id().size()));
  std::printf("%-*s  %-20s  %-10s  %-22s  %s\n", w, "ID", "NAME", "NETWORKS", "ADDRESSES", "PORTS");
  for (auto& r : recs) {
    std::string nets, addrs;
    for (auto& a : r.attachments) {
      nets += (nets.empty() ? "" : ",") + a.network;
      addrs += (addrs.empty() ? "" : ",") + a.ip;
    }
    std::printf("%-*s  %-20s  %-10s  %-22s  %s\n", w, r.short_id().c_str(), r.name.c_str(), nets.c_str(), addrs.c_str(),
                ports_str(r).c_str());
  }
}

// Releases endpoints whose network namespace is gone (the runtime never ran poststop).
void cmd_gc(const GlobalOptions& o, const AdminConfig& cfg) {
  auto released = gc_endpoints(o, cfg);
  for (const auto& r : released) std::printf("released %s (%s): %s\n", display_id(r.id).c_str(), r.name.c_str(), r.why.c_str());
  std::printf("%zu endpoint(s) released\n", released.size());
}

// Adds ocinet's hooks and annotations to a bundle and prepares its network namespace entry for
// the mode (host: removed; container:<ref>: pointed at the running container's netns).
void cmd_bundle_inject(const GlobalOptions& o, const std::string& dir, const std::vector<std::string>& kvs,
                       const std::string& hook_path) {
  if (hook_path.empty() || hook_path[0] != '/') fail_invalid("--hook: must be an absolute path");
  std::map<std::string, std::string> annotations;
  for (const auto& kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) fail_invalid("--annotation \"" + kv + "\": want KEY=VALUE");
    annotations[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string path = dir + "/config.json";
  auto text = read_regular_file(path, kMaxStateBytes);  // a FIFO or a device must not hang or flood it
  if (!text) fail_invalid(path + ": not found");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception&) {
    fail_invalid(path + ": malformed JSON");
  }
  add_annotations(config, annotations);
  prepare_config_for_mode(o, config);  // validates every io.ocinet annotation too
  // The hook runs with only the environment listed here: pass on where state lives.
  std::vector<std::string> env;
  const GlobalOptions defaults;
  if (o.config != defaults.config) env.push_back("OCINET_CONFIG=" + o.config);
  if (o.run_dir != defaults.run_dir) env.push_back("OCINET_RUN_DIR=" + o.run_dir);
  if (o.lib_dir != defaults.lib_dir) env.push_back("OCINET_LIB_DIR=" + o.lib_dir);
  if (o.log_level != defaults.log_level) env.push_back("OCINET_LOG_LEVEL=" + o.log_level);
  add_hooks(config, hook_path, env);
  write_file_atomic(path, config.dump(2) + "\n");
}

void cmd_dns_status(const GlobalOptions& o) {
  std::string status;
  if (int err = dns_status(o.run_dir, status); err != 0)
    fail_system("asking the name server on " + dns::control_path(o.run_dir) + " (none running?)", -err);
  std::printf("%s\n", nlohmann::json::parse(status, nullptr, false).dump(2).c_str());
}

// The agent is the one long-running command: it logs with timestamps, at info unless asked.
int cmd_agent(const GlobalOptions& o, const overlay::AgentOptions& agent_opts) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto lvl = spdlog::level::from_str(o.log_level);
  spdlog::set_level(lvl == spdlog::level::off && o.log_level != "off" ? spdlog::level::info : lvl);
  return overlay::run_agent(o, load_admin_config(o.config), agent_opts);
}

void add_global_options(CLI::App& app, GlobalOptions& opts) {
  app.add_option("--config", opts.config, "admin config file");
  app.add_option("--run-dir", opts.run_dir, "per-boot state directory");
  app.add_option("--lib-dir", opts.lib_dir, "persistent state directory");
  app.add_option("--log-level", opts.log_level, "trace, debug, info, warn, error");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
}

void add_endpoint_commands(CLI::App& app, GlobalOptions& opts) {
  auto* ps = app.add_subcommand("ps", "list endpoints");
  auto format = std::make_shared<std::string>("table");
  ps->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  ps->callback([&opts, format] { cmd_ps(opts, *format); });
  app.add_subcommand("gc", "release endpoints whose network namespace is gone")->callback([&opts] {
    cmd_gc(opts, load_admin_config(opts.config));
  });
}

void add_agent_command(CLI::App& app, GlobalOptions& opts, int& exit_code) {
  auto* agent = app.add_subcommand("agent", "overlay: keep this host's VXLAN state in sync with etcd (runs until SIGTERM)");
  auto agent_opts = std::make_shared<overlay::AgentOptions>();
  agent->add_option("--advertise-address", agent_opts->advertise_address,
                    "this host's underlay IPv4 address for VXLAN (default: the source address towards etcd)");
  agent->add_option("--lease-ttl", agent_opts->lease_ttl, "seconds a dead host's endpoints stay registered (default 10)");
  agent->callback([&opts, &exit_code, agent_opts] { exit_code = cmd_agent(opts, *agent_opts); });
}

void add_dns_commands(CLI::App& app, GlobalOptions& opts) {
  auto* dns = app.add_subcommand("dns", "the embedded name server");
  dns->require_subcommand(1);
  dns->add_subcommand("status", "what the running name server answers (JSON)")->callback([&opts] { cmd_dns_status(opts); });
}

void add_bundle_commands(CLI::App& app, GlobalOptions& opts) {
  auto* bundle = app.add_subcommand("bundle", "prepare OCI bundles for plain runc/crun");
  bundle->require_subcommand(1);
  auto* inject = bundle->add_subcommand("inject", "add ocinet's hooks and annotations to BUNDLE_DIR/config.json");
  struct Args {
    std::string dir, hook_path = "/usr/libexec/ocinet/ocinet-hook";
    std::vector<std::string> annotations;
  };
  auto args = std::make_shared<Args>();
  inject->add_option("bundle", args->dir, "bundle directory")->required();
  inject->add_option("--annotation", args->annotations, "annotation KEY=VALUE");
  inject->add_option("--hook", args->hook_path, "path of ocinet-hook as the runtime will see it");
  inject->callback([&opts, args] { cmd_bundle_inject(opts, args->dir, args->annotations, args->hook_path); });
}

}  // namespace

int main(int argc, char** argv) {
  GlobalOptions opts = options_from_env();
  CLI::App app{"ocinet: container networking without a daemon"};
  add_global_options(app, opts);
  // The subcommands' callbacks run once the whole command line is parsed (global options that
  // follow the subcommand included); the exit code of those that have one lands here.
  int exit_code = 0;
  add_endpoint_commands(app, opts);
  app.add_subcommand("version", "print the version")->callback([] { std::printf("ocinet 0.1.0\n"); });
  add_agent_command(app, opts, exit_code);
  add_dns_commands(app, opts);
  add_network_commands(app, opts, exit_code);
  add_bundle_commands(app, opts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "ocinet: %s\n", e.what());
    return 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "ocinet: %s\n", e.what());
    return e.exit_code();
  }
  return exit_code;
}
