// ocinet: the admin CLI, shaped like `docker network`: network management, ps, gc, version.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/network_cmd.h"
#include "config/admin_config.h"
#include "config/options.h"
#include "netcore/endpoint_record.h"
#include "netcore/error.h"
#include "netcore/netns.h"
#include "netcore/setup.h"

using namespace ocinet;

namespace {

std::string ports_str(const EndpointRecord& r) {
  std::string s;
  for (auto& p : r.ports) {
    if (!s.empty()) s += ",";
    s += (p.host_ip.empty() ? "0.0.0.0" : p.host_ip) + ":" + std::to_string(p.host_port) + "->" +
         std::to_string(p.container_port) + "/" + p.proto;
  }
  return s;
}

int cmd_ps(const GlobalOptions& o, const std::string& format) {
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
        ports.push_back({{"host_ip", p.host_ip}, {"host_port", p.host_port}, {"container_port", p.container_port}, {"proto", p.proto}});
      out.push_back({{"id", r.id}, {"name", r.name}, {"mode", r.mode}, {"state", r.state}, {"networks", nets}, {"ports", ports}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-12s  %-20s  %-10s  %-22s  %s\n", "ID", "NAME", "NETWORKS", "ADDRESSES", "PORTS");
  for (auto& r : recs) {
    std::string nets, addrs;
    for (auto& a : r.attachments) {
      nets += (nets.empty() ? "" : ",") + a.network;
      addrs += (addrs.empty() ? "" : ",") + a.ip;
    }
    std::printf("%-12s  %-20s  %-10s  %-22s  %s\n", r.short_id().c_str(), r.name.c_str(), nets.c_str(), addrs.c_str(),
                ports_str(r).c_str());
  }
  return 0;
}

// Releases endpoints whose network namespace is gone (the runtime never ran poststop).
int cmd_gc(const GlobalOptions& o, const AdminConfig& cfg) {
  RecordStore records(o.run_dir);
  int released = 0;
  for (auto& id : records.list_ids()) {
    auto r = records.load(id);
    if (!r) continue;
    bool alive = true;
    try {
      Netns::open(r->netns);
    } catch (const Error&) {
      alive = false;
    }
    if (alive) continue;
    teardown_endpoint(o, cfg, id);
    std::printf("released %s (%s)\n", r->short_id().c_str(), r->name.c_str());
    released++;
  }
  std::printf("%d endpoint(s) released\n", released);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  GlobalOptions opts = options_from_env();
  CLI::App app{"ocinet: container networking without a daemon"};
  app.add_option("--config", opts.config, "admin config file");
  app.add_option("--run-dir", opts.run_dir, "per-boot state directory");
  app.add_option("--lib-dir", opts.lib_dir, "persistent state directory");
  app.add_option("--log-level", opts.log_level, "trace, debug, info, warn, error");
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  std::string format = "table";
  auto* ps = app.add_subcommand("ps", "list endpoints");
  ps->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}));
  auto* gc = app.add_subcommand("gc", "release endpoints whose network namespace is gone");
  auto* version = app.add_subcommand("version", "print the version");
  int exit_code = 0;
  add_network_commands(app, opts, exit_code);
  try {
    app.parse(argc, argv);
    if (exit_code) return exit_code;
    if (*version) {
      std::printf("ocinet 0.1.0\n");
      return 0;
    }
    if (*ps) return cmd_ps(opts, format);
    if (*gc) return cmd_gc(opts, load_admin_config(opts.config));
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "ocinet: %s\n", e.what());
    return 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "ocinet: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
