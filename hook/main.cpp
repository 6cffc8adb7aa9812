// ocinet-hook: the OCI hook. Reads the OCI state on stdin, sets up (createRuntime, prestart) or
// tears down (poststop) the container's networking; as Podman's precreate hook, it reads
// config.json on stdin and writes it back prepared for the network mode. The whole flow:
//   config/  parse + validate state, bundle config.json, annotations, admin config
//   netcore/setup.cpp  plan, then apply under a write-ahead endpoint record
//   netcore/teardown.cpp  replay the record backwards
// Errors: one line `ocinet: <id12>: <what failed>: <why>` on stderr, exit 1 (bad request) or 2
// (system failure); the same event goes to syslog.
#include <nlohmann/json.hpp>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/admin_config.h"
#include "hook/confine.h"
#include "config/oci_state.h"
#include "config/options.h"
#include "netcore/dns_link.h"
#include "base/error.h"
#include "netcore/setup.h"

using namespace ocinet;

namespace {

std::string read_stdin_bounded() {
  std::string in;
  char buf[16384];
  ssize_t n;
  while ((n = ::read(0, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_system("reading stdin", errno);
    }
    in.append(buf, size_t(n));
    if (in.size() > kMaxStateBytes) fail_invalid("stdin: larger than 1 MiB");
  }
  return in;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("ocinet", LOG_PID, LOG_DAEMON, false);
  auto log = std::make_shared<spdlog::logger>("ocinet", sink);
  auto lvl = spdlog::level::from_str(level);
  log->set_level(lvl == spdlog::level::off && level != "off" ? spdlog::level::info : lvl);
  log->set_pattern("%v");
  return log;
}

enum class Stage { Setup, Teardown, Precreate };

// A runtime config (precreate) rather than an OCI state: it has a root or process and no status.
bool looks_like_config(const nlohmann::json& j) {
  return j.is_object() && !j.contains("status") && (j.contains("root") || j.contains("process"));
}

Stage parse_stage(const std::string& s) {
  if (s == "createRuntime" || s == "prestart" || s == "createContainer") return Stage::Setup;
  if (s == "poststop") return Stage::Teardown;
  if (s == "precreate") return Stage::Precreate;
  fail_invalid("unknown stage \"" + s + "\" (want createRuntime, prestart, poststop or precreate)");
}

// Before confinement, which forbids exec: the link to the name server, or a launcher that can
// start it if this setup turns out to need it (netcore/dns_link.h). Bad options are reported
// by the same parsing in run().
void prepare_name_server_link(const std::vector<std::string>& args) {
  try {
    GlobalOptions o = options_from_env();
    auto rest = take_global_options(args, o);
    const bool teardown = !rest.empty() && rest[0] == "poststop";
    dns_prepare(o.run_dir, o.lib_dir, !teardown, dns_server_beside_self());
  } catch (const std::exception&) {
  }
}

#ifdef OCINET_TESTING
// Testing build only: prove that the confinement refuses execve, and every clone but a
// plain fork (the SIGSYS handler exits). The exit status when OCINET_TEST_EXEC asks for a
// probe and the call was let through; nothing otherwise.
std::optional<int> confinement_probe() {
  const char* probe = std::getenv("OCINET_TEST_EXEC");
  if (!probe) return std::nullopt;
  if (std::strcmp(probe, "clone") == 0) {
    long pid = ::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    std::fprintf(stderr, "ocinet: -: clone(CLONE_NEWNET) was not refused\n");
    return 3;
  }
  char* const args[] = {const_cast<char*>("/bin/true"), nullptr};
  ::execve("/bin/true", args, environ);
  std::fprintf(stderr, "ocinet: -: execve was not refused\n");
  return 3;
}
#endif

// stdin, parsed once whatever it turns out to be (an OCI state, or config.json for precreate).
nlohmann::json parse_stdin(std::optional<Stage> stage) {
  std::string input = read_stdin_bounded();
  try {
    return nlohmann::json::parse(input);
  } catch (const nlohmann::json::exception&) {
    fail_invalid(stage == Stage::Precreate ? "config.json on stdin: malformed JSON" : "OCI state: malformed JSON (syntax error)");
  }
}

// Podman's precreate: config.json in, config.json out (and nothing else on stdout).
void precreate(const GlobalOptions& opts, nlohmann::json& config) {
  prepare_config_for_mode(opts, config);
  std::string out = config.dump();
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// Without a stage argument, the container's status tells.
Stage stage_from_status(const std::string& status) {
  if (status == "creating" || status == "created") return Stage::Setup;
  if (status == "stopped") return Stage::Teardown;
  fail_invalid("no stage given and state.status \"" + status + "\" does not imply one");
}

// The hook's work, once confined. Throws on failure; `id12` (the container, once known) and
// `log` (the syslog logger, once made) are set as early as possible so main can report it.
int run(const std::vector<std::string>& args, std::string& id12, std::shared_ptr<spdlog::logger>& log) {
  GlobalOptions opts = options_from_env();
  auto rest = take_global_options(args, opts);
  log = make_logger(opts.log_level);
  spdlog::set_default_logger(log);  // netcore's warnings go to syslog too, never to stdout
  if (rest.size() > 1) fail_invalid("usage: ocinet-hook [--config F] [--run-dir D] [--lib-dir D] [STAGE]");
  if (!rest.empty() && (rest[0] == "--version" || rest[0] == "version")) {
    std::printf("ocinet-hook 0.1.0\n");
    return 0;
  }
  std::optional<Stage> stage;
  if (!rest.empty()) stage = parse_stage(rest[0]);
  nlohmann::json doc = parse_stdin(stage);
  if (!stage && looks_like_config(doc)) stage = Stage::Precreate;  // hooks.d gives no argument
  if (stage == Stage::Precreate) {
    precreate(opts, doc);
    return 0;
  }

  OciState state = parse_oci_state_doc(doc);
  id12 = display_id(state.id);
  if (!stage) stage = stage_from_status(state.status);
  AdminConfig cfg = load_admin_config(opts.config);
  if (stage == Stage::Setup) {
    EndpointRecord rec = setup_endpoint(opts, cfg, state);
    std::string addrs;
    for (auto& a : rec.attachments) addrs += " " + a.network + "=" + a.ip;
    log->info("{}: set up{} ({} published ports)", id12, addrs, rec.ports.size());
  } else {
    teardown_endpoint(opts, cfg, state.id);
    log->info("{}: torn down", id12);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The hook never executes anything, so PATH is unused; drop the loader variables so that no
  // library that might spawn a helper passes them on.
  ::unsetenv("LD_PRELOAD");
  ::unsetenv("LD_LIBRARY_PATH");
  ::umask(022);
  const std::vector<std::string> args(argv + 1, argv + argc);
  prepare_name_server_link(args);
  if (!confine_hook()) {
    std::fprintf(stderr, "ocinet: -: confining the hook with seccomp: %s\n", std::strerror(errno));
    return 2;
  }
#ifdef OCINET_TESTING
  if (auto status = confinement_probe()) return *status;
#endif

  std::string id12 = "-";
  std::shared_ptr<spdlog::logger> log;
  try {
    return run(args, id12, log);
  } catch (const Error& e) {
    std::fprintf(stderr, "ocinet: %s: %s\n", id12.c_str(), e.what());
    if (log) log->error("{}: {}", id12, e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ocinet: %s: internal error: %s\n", id12.c_str(), e.what());
    if (log) log->error("{}: internal error: {}", id12, e.what());
    return 2;
  }
}
