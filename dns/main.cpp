// ocinet-dns: the embedded name server (see dns/server.h). Started on demand by the hook
// (`ocinet-dns --client-fd 3`, fd 3 carrying its first message) or by a systemd unit. One per
// run dir: a second instance hands its client connection to the first and exits.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "config/options.h"
#include "dns/control.h"
#include "dns/server.h"
#include "base/error.h"

namespace {

using ocinet::dns::ServerOptions;

constexpr const char* kUsage =
    "usage: ocinet-dns [--run-dir DIR] [--lib-dir DIR] [--log-level LVL] [--foreground]\n"
    "                  [--resolv-conf PATH] [--resolved-conf PATH] [--client-fd N]\n"
    "       ocinet-dns status [--run-dir DIR]\n";

struct Args {
  ServerOptions server;
  std::string log_level;
  bool status = false;
};

Args parse_args(int argc, char** argv) {
  ocinet::GlobalOptions g = ocinet::options_from_env();
  auto rest = ocinet::take_global_options(std::vector<std::string>(argv + 1, argv + argc), g);
  Args a;
  a.server.run_dir = g.run_dir;
  a.server.lib_dir = g.lib_dir;
  a.log_level = g.log_level;
  for (size_t i = 0; i < rest.size(); i++) {
    const std::string& k = rest[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= rest.size()) ocinet::fail_invalid(k + " needs a value");
      return rest[++i];
    };
    if (k == "--foreground") continue;  // never daemonizes: the caller decides
    else if (k == "--resolv-conf") a.server.resolv_conf = value();
    else if (k == "--resolved-conf") a.server.resolved_conf = value();
    else if (k == "--client-fd") {
      std::string v = value();
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos)
        ocinet::fail_invalid("--client-fd: not a descriptor number: " + v);
      a.server.client_fd = std::stoi(v);
    } else if (k == "status") a.status = true;
    else ocinet::fail_invalid(std::string("unknown argument ") + k + "\n" + kUsage);
  }
  return a;
}

// 10,000 containers are 20,000 sockets, beyond the usual soft limit of 1024.
void raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Lost the race for the lock: hand the hook's connection to the running server. Retries while
// that server is still starting (lock taken, control socket not yet bound) or just died.
int adopt_or_serve(const ServerOptions& o) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    if (auto lock = ocinet::FileLock::try_lock(ocinet::dns::lock_path(o.run_dir)))
      return ocinet::dns::Server(o, std::move(*lock)).run();
    if (o.client_fd < 0) {
      spdlog::info("another ocinet-dns serves {}", o.run_dir);
      return 0;
    }
    int fd = ocinet::dns_control_connect(o.run_dir);
    if (fd >= 0) {
      bool sent = ocinet::dns_send(fd, "adopt", "", &o.client_fd, 1);
      ::close(fd);
      if (sent) return 0;
    }
    if (std::chrono::steady_clock::now() > deadline) ocinet::fail_system("no ocinet-dns to hand the client to", errno);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto log = spdlog::stderr_logger_st("ocinet-dns");
  spdlog::set_default_logger(log);
  try {
    Args a = parse_args(argc, argv);
    spdlog::set_level(spdlog::level::from_str(a.log_level));
    if (a.status) {
      std::string out;
      int rc = ocinet::dns_status(a.server.run_dir, out);
      if (rc < 0) ocinet::fail_system("no answer from ocinet-dns in " + a.server.run_dir, -rc);
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fputc('\n', stdout);
      return 0;
    }
    raise_fd_limit();
    return adopt_or_serve(a.server);
  } catch (const ocinet::Error& e) {
    spdlog::error("{}", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
}
