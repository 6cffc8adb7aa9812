// ocinet-bench: setup and teardown latency of ocinet-hook as a whole process, the way a
// runtime calls it (fork, exec, OCI state on stdin, wait).
//
// The bench moves itself into a fresh network namespace (the isolated "host"), pre-creates N
// container namespaces (one sleeping child each, so /proc/<pid>/ns/net is the netns), then
// times N setups in a row (each publishing one TCP port) and N teardowns, and prints median
// and p95 per container. Nothing outside its own namespaces is touched; everything goes when
// it exits.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
static std::vector<pid_t> g_holders;  // netns holder children

// Runs on every exit path, so a failed run leaves nothing behind.
static void cleanup() {
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
  waitpid(pid, &status, 0);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ocinet-bench: hook %s failed (status %d)\n", stage, status);
    std::exit(2);
  }
  return ms;
}

static void report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto pct = [&](double q) { return v[std::min(v.size() - 1, size_t(q * double(v.size())))]; };
  std::printf("%-10s n=%-4zu median %7.2f ms   p95 %7.2f ms   min %7.2f ms   max %7.2f ms\n", what, v.size(), pct(0.5),
              pct(0.95), v.front(), v.back());
}

int main(int argc, char** argv) {
  std::string hook = "build/bin/ocinet-hook";
  std::string config;  // admin config for the hook, e.g. to pick a firewall backend
  int n = 200;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--hook" && i + 1 < argc) hook = argv[++i];
    else if (a == "-n" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "--config" && i + 1 < argc) config = fs::absolute(argv[++i]).string();
    else {
      std::fprintf(stderr, "usage: ocinet-bench [--hook PATH] [--config ADMIN_CONFIG] [-n N]\n");
      return 1;
    }
  }
  hook = fs::absolute(hook).string();
  if (access(hook.c_str(), X_OK) != 0) die("hook " + hook);
  if (n < 1 || n > 5000) {
    std::fprintf(stderr, "ocinet-bench: -n must be 1..5000\n");
    return 1;
  }
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNET|CLONE_NEWNS) (run as root)");
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("making mounts private");

  char tmpl[] = "/tmp/ocinet-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  fs::path dir = tmpl;
  g_dir = dir;
  std::atexit(cleanup);
  // The run dir lives on tmpfs in production (/run); give the bench the same, privately.
  if (mount("ocinet-bench", dir.c_str(), "tmpfs", 0, "size=256m") != 0) die("mounting tmpfs");
  fs::create_directories(dir / "rootfs/etc");
  {
    FILE* f = std::fopen((dir / "config.json").c_str(), "w");
    std::fprintf(f, R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"hostname":"bench","linux":{"namespaces":[{"type":"network"}]}})");
    std::fclose(f);
  }
  setenv("OCINET_RUN_DIR", (dir / "run").c_str(), 1);
  setenv("OCINET_LIB_DIR", (dir / "lib").c_str(), 1);
  setenv("OCINET_CONFIG", config.empty() ? (dir / "ocinet.json").c_str() : config.c_str(), 1);

  std::vector<pid_t>& holders = g_holders;
  for (int i = 0; i < n; i++) holders.push_back(spawn_netns_holder());

  std::vector<double> setup, teardown;
  auto state = [&](int i, const char* status) {
    return std::string(R"({"ociVersion":"1.0.2","id":"bench)") + std::to_string(i) + R"(","status":")" + status +
           R"(","pid":)" + std::to_string(holders[size_t(i)]) + R"(,"bundle":")" + dir.string() +
           R"(","annotations":{"io.ocinet.ports":")" + std::to_string(10000 + i) + R"(:80"}})";
  };
  // One warm-up container creates the bridge and the network's firewall chains: a one-time
  // cost per network, not per container.
  run_hook(hook, "createRuntime", state(0, "creating"));
  run_hook(hook, "poststop", state(0, "stopped"));
  for (int i = 0; i < n; i++) setup.push_back(run_hook(hook, "createRuntime", state(i, "creating")));
  for (int i = 0; i < n; i++) teardown.push_back(run_hook(hook, "poststop", state(i, "stopped")));

  std::printf("ocinet-hook setup/teardown, bridge network + 1 published TCP port, %d containers in a row\n", n);
  report("setup", setup);
  report("teardown", teardown);
  return 0;  // cleanup() runs at exit
}
