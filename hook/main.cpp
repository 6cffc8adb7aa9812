// ocinet-hook: the OCI hook. Reads the OCI state on stdin, sets up (createRuntime, prestart) or
// tears down (poststop) the container's networking. The whole flow:
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

}  // namespace

int main(int argc, char** argv) {
  // The hook never executes anything, so PATH is unused; drop the loader variables so that no
  // library that might spawn a helper passes them on.
  ::unsetenv("LD_PRELOAD");
  ::unsetenv("LD_LIBRARY_PATH");
  ::umask(022);
  // Before confinement, which forbids exec: the link to the name server, or a launcher that can
  // start it if this setup turns out to need it (netcore/dns_link.h). Bad options are reported
  // by the same parsing below.
  try {
    GlobalOptions o = options_from_env();
    auto rest = take_global_options(std::vector<std::string>(argv + 1, argv + argc), o);
    const bool teardown = !rest.empty() && rest[0] == "poststop";
    dns_prepare(o.run_dir, o.lib_dir, !teardown, dns_server_beside_self());
  } catch (const std::exception&) {
  }
  if (!confine_hook()) {
    std::fprintf(stderr, "ocinet: -: confining the hook with seccomp: %s\n", std::strerror(errno));
    return 2;
  }
#ifdef OCINET_TESTING
  // Testing build only: prove that the confinement refuses execve, and every clone but a
  // plain fork (the SIGSYS handler exits).
  if (const char* probe = std::getenv("OCINET_TEST_EXEC")) {
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

  std::string id12 = "-";
  std::shared_ptr<spdlog::logger> log;
  try {
    GlobalOptions opts = options_from_env();
    auto rest = take_global_options(std::vector<std::string>(argv + 1, argv + argc), opts);
    log = make_logger(opts.log_level);
    spdlog::set_default_logger(log);  // netcore's warnings go to syslog too, never to stdout
    if (rest.size() > 1) fail_invalid("usage: ocinet-hook [--config F] [--run-dir D] [--lib-dir D] [STAGE]");
    if (!rest.empty() && (rest[0] == "--version" || rest[0] == "version")) {
      std::printf("ocinet-hook 0.1.0\n");
      return 0;
    }
    std::optional<Stage> stage;
    if (!rest.empty()) stage = parse_stage(rest[0]);
    std::string input = read_stdin_bounded();

    // stdin is parsed once, whatever it turns out to be.
    if (input.size() > kMaxStateBytes) fail_invalid("stdin: larger than 1 MiB");
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(input);
    } catch (const nlohmann::json::exception&) {
      fail_invalid(stage == Stage::Precreate ? "config.json on stdin: malformed JSON" : "OCI state: malformed JSON (syntax error)");
    }
    if (!stage && looks_like_config(doc)) stage = Stage::Precreate;  // hooks.d gives no argument
    if (stage == Stage::Precreate) {
      // Podman's precreate: config.json in, config.json out (and nothing else on stdout).
      prepare_config_for_mode(opts, doc);
      std::string out = doc.dump();
      std::fwrite(out.data(), 1, out.size(), stdout);
      return 0;
    }

    OciState state = parse_oci_state_doc(doc);
    id12 = display_id(state.id);
    if (!stage) {
      if (state.status == "creating" || state.status == "created") stage = Stage::Setup;
      else if (state.status == "stopped") stage = Stage::Teardown;
      else fail_invalid("no stage given and state.status \"" + state.status + "\" does not imply one");
    }
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
