// ocinet-bench: setup and teardown latency of ocinet-hook as a whole process, the way a
// runtime calls it (fork, exec, OCI state on stdin, wait).
//
// The bench moves itself into a fresh network namespace (the isolated "host"), pre-creates N
// container namespaces (one sleeping child each, so /proc/<pid>/ns/net is the netns), then
// times N setups in a row (each publishing one TCP port) and N teardowns, and prints median
// and p95 per container. `--range N` instead times what a published range costs against one
// port. Nothing outside its own namespaces is touched; everything goes when it exits.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

static fs::path g_dir;               // temporary tmpfs with bundle and state dirs
static std::string g_network;        // the containers' network: "" = the default bridge
static long g_peak_rss_kb = 0;       // largest resident set of any hook run
static std::vector<pid_t> g_holders;  // netns holder children

// The name server a setup on a user network started in this world (it outlives the hooks):
// found by its --run-dir, which names this world's directory.
static void kill_name_servers() {
  if (g_dir.empty()) return;
  const std::string mine = (g_dir / "run").string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    FILE* f = std::fopen((e.path() / "cmdline").c_str(), "r");
    if (!f) continue;
    char buf[4096];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string cmd(buf, n);
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find("ocinet-dns") != std::string::npos && cmd.find(mine + " ") != std::string::npos)
      kill(pid_t(std::atoi(pid.c_str())), SIGKILL);
  }
}

// Runs on every exit path, so a failed run leaves nothing behind.
static void cleanup() {
  kill_name_servers();
  for (pid_t p : g_holders) kill(p, SIGKILL);
  for (pid_t p : g_holders) waitpid(p, nullptr, 0);
  g_holders.clear();
  if (!g_dir.empty()) {
    umount2(g_dir.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(g_dir, ec);
    g_dir.clear();
  }
}

static void die(const std::string& msg) {
  std::fprintf(stderr, "ocinet-bench: %s: %s\n", msg.c_str(), std::strerror(errno));
  std::exit(2);
}

// A child that sits in a new netns until killed (or until the bench dies: PDEATHSIG).
static pid_t spawn_netns_holder() {
  int p[2];
  if (pipe(p) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNET) != 0) _exit(1);
    char c = 1;
    if (write(p[1], &c, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(p[1]);
  char c;
  if (read(p[0], &c, 1) != 1) die("netns holder failed");
  close(p[0]);
  return pid;
}

// Runs `hook stage` with `input` on stdin; returns elapsed milliseconds, exits on failure.
static double run_hook(const std::string& hook, const char* stage, const std::string& input) {
  int p[2];
  if (pipe(p) != 0) die("pipe");
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    dup2(p[0], 0);
    close(p[0]);
    close(p[1]);
    execl(hook.c_str(), "ocinet-hook", stage, (char*)nullptr);
    _exit(127);
  }
  close(p[0]);
  if (write(p[1], input.data(), input.size()) != ssize_t(input.size())) die("write state");
  close(p[1]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  g_peak_rss_kb = std::max(g_peak_rss_kb, long(usage.ru_maxrss));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ocinet-bench: hook %s failed (status %d)\n", stage, status);
    std::exit(2);
  }
  return ms;
}

static void report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto pct = [&](double q) { return v[std::min(v.size() - 1, size_t(q * double(v.size())))]; };
  std::printf("%-22s n=%-4zu median %7.2f ms   p95 %7.2f ms   min %7.2f ms   max %7.2f ms\n", what, v.size(), pct(0.5),
              pct(0.95), v.front(), v.back());
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A private world for one run: its own netns as the "host", a private tmpfs holding the bundle
// and ocinet's state, and `holders` netns holder children. Everything goes at exit.
static fs::path make_world(const std::string& config, const std::string& backend, int holders) {
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNET|CLONE_NEWNS) (run as root)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("making mounts private");
  char tmpl[] = "/tmp/ocinet-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  fs::path dir = tmpl;
  g_dir = dir;
  std::atexit(cleanup);
  // The run dir lives on tmpfs in production (/run); give the bench the same, privately.
  if (mount("ocinet-bench", dir.c_str(), "tmpfs", 0, "size=512m") != 0) die("mounting tmpfs");
  fs::create_directories(dir / "rootfs/etc");
  auto write = [](const fs::path& p, const std::string& text) {
    FILE* f = std::fopen(p.c_str(), "w");
    if (!f) die("writing " + p.string());
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write(dir / "config.json",
        R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"hostname":"bench","linux":{"namespaces":[{"type":"network"}]}})");
  write(dir / "ocinet.json", "{\"firewall_backend\": \"" + backend + "\"}");
  setenv("OCINET_RUN_DIR", (dir / "run").c_str(), 1);
  setenv("OCINET_LIB_DIR", (dir / "lib").c_str(), 1);
  setenv("OCINET_CONFIG", config.empty() ? (dir / "ocinet.json").c_str() : config.c_str(), 1);
  for (int i = 0; i < holders; i++) g_holders.push_back(spawn_netns_holder());
  return dir;
}

// The OCI state of container `id` in netns holder `holder`, publishing `ports` (a port spec list).
static std::string state_json(const fs::path& dir, const std::string& id, int holder, const char* status,
                              const std::string& ports) {
  return std::string(R"({"ociVersion":"1.0.2","id":")") + id + R"(","status":")" + status + R"(","pid":)" +
         std::to_string(g_holders[size_t(holder)]) + R"(,"bundle":")" + dir.string() +
         R"(","annotations":{)" + (g_network.empty() ? "" : R"("io.ocinet.network":")" + g_network + R"(",)") +
         R"("io.ocinet.ports":")" + ports + R"("}})";
}

static std::string state_json(const fs::path& dir, int i, const char* status, int port) {
  return state_json(dir, "bench" + std::to_string(i), i, status, std::to_string(port) + ":80");
}

// Network devices in the current netns (lines of /proc/net/dev after its two header lines).
static int count_links() {
  FILE* f = std::fopen("/proc/net/dev", "r");
  if (!f) die("reading /proc/net/dev");
  int lines = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) lines += c == '\n';
  std::fclose(f);
  return lines - 2;
}

// Kills the first n netns holders and waits until the kernel has removed their veths (it does
// so asynchronously once a netns is gone), leaving `links` devices: the runtime's poststop
// after the container's last process exited.
static void drop_netns(int n, int links) {
  for (int i = 0; i < n; i++) kill(g_holders[size_t(i)], SIGKILL);
  for (int i = 0; i < n; i++) waitpid(g_holders[size_t(i)], nullptr, 0);
  for (int waited = 0; count_links() > links; waited++) {
    if (waited > 1000) die("veths of dead network namespaces still there after 10 s");
    usleep(10000);
  }
  // The kernel goes on dismantling the dead namespaces after their veths are gone (holding
  // locks a teardown needs too): let it finish, so that only ocinet's own work is timed.
  sleep(3);
}

static double run_cmd(const std::vector<std::string>& argv);

// N setups in a row, then N teardowns (with the containers' netns alive, or gone). With
// `other`, every second container is set up and torn down by that hook instead; with
// `other_network`, every second container goes on that user network (created here: its name
// server on) instead of the default bridge. Both in the same world: an A/B comparison that the
// machine's drift affects alike.
static int run_sequence(const std::string& hook, const std::string& other, const std::string& other_network,
                        const std::string& config, const std::string& backend, int n, bool netns_gone) {
  fs::path dir = make_world(config, backend, n);
  const bool ab = !other.empty() || !other_network.empty();
  auto hook_of = [&](int i) -> const std::string& { return !other.empty() && i % 2 ? other : hook; };
  auto state_of = [&](int i, const char* status) {
    g_network = !other_network.empty() && i % 2 ? other_network : "";
    return state_json(dir, i, status, 10000 + i);
  };
  if (!other_network.empty()) run_cmd({(fs::path(hook).parent_path() / "ocinet").string(), "network", "create", other_network});
  // Warm-up containers create the bridges, the networks' firewall rules (and start the name
  // server): one-time costs per network, not per container.
  for (int i = 0; i < (other_network.empty() ? 1 : 2); i++) {
    run_hook(hook, "createRuntime", state_of(i, "creating"));
    run_hook(hook, "poststop", state_of(i, "stopped"));
  }
  std::vector<double> setup, teardown, setup_b, teardown_b;
  for (int i = 0; i < n; i++)
    (ab && i % 2 ? setup_b : setup).push_back(run_hook(hook_of(i), "createRuntime", state_of(i, "creating")));
  if (netns_gone) drop_netns(n, other_network.empty() ? 2 : 3);  // lo and the bridges stay
  for (int i = 0; i < n; i++)
    (ab && i % 2 ? teardown_b : teardown).push_back(run_hook(hook_of(i), "poststop", state_of(i, "stopped")));
  std::printf("ocinet-hook setup/teardown (%s), 1 published TCP port, %d containers in a row\n", backend.c_str(), n);
  const char* td = netns_gone ? "teardown (netns gone)" : "teardown (netns alive)";
  if (!other.empty()) std::printf("A = %s\n", hook.c_str());
  if (!other_network.empty()) std::printf("A = default bridge (no name server)\n");
  report(ab ? "A setup" : "setup", setup);
  report(ab ? "A teardown" : td, teardown);
  if (ab) {
    std::printf("B = %s\n", !other.empty() ? other.c_str() : ("user network " + other_network + " (name server on)").c_str());
    report("B setup", setup_b);
    report("B teardown", teardown_b);
    std::printf("B / A setup median: %.2fx\n", median(setup_b) / median(setup));
  }
  std::printf("peak RSS of the hook: %.1f MiB\n", double(g_peak_rss_kb) / 1024);
  return 0;
}

// Setup latency with 0, 100, 500, 1000 containers already set up (each with a published port):
// `samples` probe containers are set up and torn down at each level.
static int run_scale(const std::string& hook, const std::string& backend, const std::vector<int>& levels, int samples,
                     const std::string& network) {
  int top = *std::max_element(levels.begin(), levels.end());
  fs::path dir = make_world("", backend, top + samples);
  if (!network.empty()) {  // a user network: its name server answers every container on it
    run_cmd({(fs::path(hook).parent_path() / "ocinet").string(), "network", "create", network});
    g_network = network;
  }
  const std::string label = backend + (network.empty() ? ", bridge" : ", " + network);
  run_hook(hook, "createRuntime", state_json(dir, top, "creating", 30000));  // warm-up: bridge, table
  run_hook(hook, "poststop", state_json(dir, top, "stopped", 30000));
  int filled = 0;
  double base = 0;
  for (int level : levels) {
    for (; filled < level; filled++) run_hook(hook, "createRuntime", state_json(dir, filled, "creating", 10000 + filled));
    std::vector<double> t;
    for (int j = 0; j < samples; j++) {
      t.push_back(run_hook(hook, "createRuntime", state_json(dir, top + j, "creating", 40000 + j)));
      run_hook(hook, "poststop", state_json(dir, top + j, "stopped", 40000 + j));
    }
    double m = median(t);
    if (level == levels.front()) base = m;
    std::printf("| %-18s | %5d | %6.2f ms | %5.2fx |\n", label.c_str(), level, m, m / base);
    std::fflush(stdout);
  }
  return 0;
}

// Runs a command (no stdin) and returns elapsed milliseconds; exits on failure.
static double run_cmd(const std::vector<std::string>& argv) {
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ocinet-bench: %s failed (status %d)\n", argv[0].c_str(), status);
    std::exit(2);
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// What a restart of Debian's nftables.service (nftables) or an iptables-restore of a saved ruleset
// without ocinet's chains (iptables) does to ocinet's rules. The bench's own netns only.
static void flush_ruleset(const std::string& backend) {
  const char* cmd = backend == "nftables" ? "nft flush ruleset"
                                          : "for t in nat filter; do iptables-legacy -w -t $t -F && iptables-legacy -w -t $t -X; done";
  if (std::system(cmd) != 0) die(std::string("flushing: ") + cmd);
}

// Published-port entries of the bench's containers in the firewall, as listed by the tools.
static int published_entries(const std::string& backend) {
  const char* cmd = backend == "nftables" ? "nft list map ip ocinet pub_any | grep -c 'comment \"ocinet:bench'"
                                          : "iptables-legacy-save -t nat | grep -c 'ocinet:bench'";
  FILE* f = popen(cmd, "r");
  int count = 0;
  if (!f || std::fscanf(f, "%d", &count) != 1) count = -1;
  if (f) pclose(f);
  return count;
}

// Time from a flush to every rule back, with n containers running: by `ocinet network reload
// --all` (what the systemd unit runs) and by the next container's setup (which finds the tables
// gone and restores the others first), each checked to have restored all n published ports.
static int run_restore(const std::string& hook, const std::string& cli, const std::string& backend, int n, int samples) {
  fs::path dir = make_world("", backend, n + samples);
  for (int i = 0; i < n; i++) run_hook(hook, "createRuntime", state_json(dir, i, "creating", 10000 + i));
  std::vector<double> reload, by_setup;
  for (int j = 0; j < samples; j++) {
    flush_ruleset(backend);
    reload.push_back(run_cmd({cli, "network", "reload", "--all"}));
    if (published_entries(backend) != n) die("reload restored " + std::to_string(published_entries(backend)) + " of " + std::to_string(n));
    flush_ruleset(backend);
    by_setup.push_back(run_hook(hook, "createRuntime", state_json(dir, n + j, "creating", 30000 + j)));
    if (published_entries(backend) != n + 1) die("setup restored " + std::to_string(published_entries(backend) - 1) + " of " + std::to_string(n));
    run_hook(hook, "poststop", state_json(dir, n + j, "stopped", 30000 + j));
  }
  std::printf("flush -> every rule back, %d running containers (%s)\n", n, backend.c_str());
  report("network reload --all", reload);
  report("next setup", by_setup);
  return 0;
}

// What a published range costs against one port: `rounds` rounds, each setting up and tearing
// down (netns alive) one container per kind, the kinds' order rotating so the machine's drift
// weighs on all alike: one port (10000:80), an N-port range keeping its ports
// (10000-X:10000-X, one element or rule) and an N-port range shifted to other container ports
// (10000-X:80-Y, which nftables writes one element per port). Prints medians and the ratios.
static int run_range(const std::string& hook, const std::string& backend, int ports, int rounds) {
  fs::path dir = make_world("", backend, 3);
  {  // the admin allows the range (policy max_published_ports, 1024 by default)
    FILE* f = std::fopen((dir / "ocinet.json").c_str(), "w");
    if (!f) die("writing the admin config");
    std::fprintf(f, "{\"firewall_backend\": \"%s\", \"policy\": {\"max_published_ports\": %d}}", backend.c_str(),
                 std::max(ports, 1024));
    std::fclose(f);
  }
  const std::string last = std::to_string(10000 + ports - 1);
  struct Kind {
    std::string name, spec;
    std::vector<double> setup, teardown;
  };
  std::vector<Kind> kinds = {{"one port (10000:80)", "10000:80", {}, {}},
                             {std::to_string(ports) + "-port range (10000-" + last + ":10000-" + last + ")",
                              "10000-" + last + ":10000-" + last, {}, {}},
                             {std::to_string(ports) + "-port shifted (10000-" + last + ":80-" + std::to_string(80 + ports - 1) + ")",
                              "10000-" + last + ":80-" + std::to_string(80 + ports - 1), {}, {}}};
  // Warm-up: the bridge and the network's firewall rules, a one-time cost per network.
  run_hook(hook, "createRuntime", state_json(dir, "warm", 0, "creating", "10000:80"));
  run_hook(hook, "poststop", state_json(dir, "warm", 0, "stopped", "10000:80"));
  for (int r = 0; r < rounds; r++)
    for (int j = 0; j < 3; j++) {
      const int k = (r + j) % 3;
      const std::string id = "rng" + std::to_string(k) + "-" + std::to_string(r);
      kinds[size_t(k)].setup.push_back(run_hook(hook, "createRuntime", state_json(dir, id, k, "creating", kinds[size_t(k)].spec)));
      kinds[size_t(k)].teardown.push_back(run_hook(hook, "poststop", state_json(dir, id, k, "stopped", kinds[size_t(k)].spec)));
    }
  std::printf("ocinet-hook setup/teardown (%s), bridge network, one port vs a %d-port range, %d rounds (kinds interleaved)\n",
              backend.c_str(), ports, rounds);
  for (const Kind& k : kinds) {
    std::printf("%s\n", k.name.c_str());
    report("  setup", k.setup);
    report("  teardown (netns alive)", k.teardown);
  }
  const double s1 = median(kinds[0].setup), t1 = median(kinds[0].teardown);
  std::printf("range / one port:   setup %.2fx, teardown %.2fx (medians)\n", median(kinds[1].setup) / s1,
              median(kinds[1].teardown) / t1);
  std::printf("shifted / one port: setup %.2fx, teardown %.2fx (medians)\n", median(kinds[2].setup) / s1,
              median(kinds[2].teardown) / t1);
  std::printf("peak RSS of the hook: %.1f MiB\n", double(g_peak_rss_kb) / 1024);
  return 0;
}

int main(int argc, char** argv) {
  std::string hook = "build/bin/ocinet-hook";
  std::string other;  // --ab: a second hook, interleaved
  std::string other_network;  // --vs-network: a user network, interleaved with the default bridge
  std::string config;  // admin config for the hook (overrides --backend)
  std::string backend = "auto";
  bool scale = false, netns_gone = false, restore = false;
  int n = 200, samples = 20, range = 0;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--hook" && i + 1 < argc) hook = argv[++i];
    else if (a == "--ab" && i + 1 < argc) other = fs::absolute(argv[++i]).string();
    else if (a == "--vs-network" && i + 1 < argc) other_network = argv[++i];
    else if (a == "-n" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "--config" && i + 1 < argc) config = fs::absolute(argv[++i]).string();
    else if (a == "--backend" && i + 1 < argc) backend = argv[++i];
    else if (a == "--scale") scale = true;
    else if (a == "--restore") restore = true;
    else if (a == "--netns-gone") netns_gone = true;
    else if (a == "--samples" && i + 1 < argc) samples = std::atoi(argv[++i]);
    else if (a == "--range" && i + 1 < argc) range = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: ocinet-bench [--hook PATH] [--backend auto|nftables|iptables|none] [--config ADMIN_CONFIG] [-n N]\n"
                   "                    [--netns-gone]   (tear down after the containers' netns are gone)\n"
                   "                    [--ab OTHER_HOOK]   (every second container uses OTHER_HOOK: A/B of two builds)\n"
                   "                    [--vs-network NAME]   (every second container on user network NAME, name server on)\n"
                   "       ocinet-bench --scale [--samples N]   (setup latency at 0/100/500/1000 existing containers, per backend)\n"
                   "       ocinet-bench --restore [-n N] [--samples N]   (flush -> rules back with N running, per backend)\n"

                   "       ocinet-bench --range PORTS [-n ROUNDS] [--backend B]   (one port vs a PORTS-port range, kept and shifted)\n");
      return 1;
    }
  }
  // Output piped into `head` must not kill the run half-way: a signal would skip the cleanup and
  // leave the work directory behind. A closed pipe makes the writes fail instead.
  std::signal(SIGPIPE, SIG_IGN);
  hook = fs::absolute(hook).string();
  if (access(hook.c_str(), X_OK) != 0) die("hook " + hook);
  if (n < 1 || n > 5000 || samples < 1 || samples > 1000) {
    std::fprintf(stderr, "ocinet-bench: -n must be 1..5000, --samples 1..1000\n");
    return 1;
  }
  if (!other.empty() && access(other.c_str(), X_OK) != 0) die("hook " + other);
  if (restore) {
    const std::string cli = (fs::path(hook).parent_path() / "ocinet").string();
    if (access(cli.c_str(), X_OK) != 0) die("CLI " + cli);
    for (const char* b : {"nftables", "iptables"}) {
      std::fflush(stdout);
      pid_t pid = fork();  // each backend in a world of its own
      if (pid < 0) die("fork");
      if (pid == 0) std::exit(run_restore(hook, cli, b, n, samples));
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::printf("%s: failed (status %d)\n", b, status);
    }
    return 0;
  }
  if (range != 0) {
    if (range < 2 || range > 55536) {
      std::fprintf(stderr, "ocinet-bench: --range must be 2..55536\n");
      return 1;
    }
    return run_range(hook, backend, range, n == 200 ? 30 : n);
  }
  if (!scale) return run_sequence(hook, other, other_network, config, backend, n, netns_gone);

  // The default bridge (no name server, as Docker's) and a user network (name server on).
  std::printf("| backend, network   | existing | setup median | vs empty |\n|---|---|---|---|\n");
  for (const char* network : {"", "benchnet"})
    for (const char* b : {"nftables", "iptables"}) {
      std::fflush(stdout);
      pid_t pid = fork();  // each backend in a world of its own
      if (pid < 0) die("fork");
      if (pid == 0) std::exit(run_scale(hook, b, {0, 100, 500, 1000}, samples, network));
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::printf("| %s | failed (status %d) | | |\n", b, status);
    }
  return 0;
}
