#include "hook/confine.h"

#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

#include "seccomp_filter.h"  // generated: kOcinetSeccompFilter

namespace ocinet {
namespace {

// Async-signal-safe: formats the number by hand and writes with write(2) only.
void on_sigsys(int, siginfo_t* info, void*) {
  char buf[128] = "ocinet: seccomp: the hook attempted a forbidden system call (number ";
  size_t len = std::strlen(buf);
  char digits[12];
  int n = 0;
  unsigned v = unsigned(info->si_syscall);
  do {
    digits[n++] = char('0' + v % 10);
    v /= 10;
  } while (v && n < 11);
  while (n) buf[len++] = digits[--n];
  const char tail[] = "); stopped\n";
  std::memcpy(buf + len, tail, sizeof tail - 1);
  len += sizeof tail - 1;
  ssize_t ignored = ::write(2, buf, len);
  (void)ignored;
  _exit(2);
}

}  // namespace

bool confine_hook() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return false;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  sock_fprog prog{static_cast<unsigned short>(sizeof kOcinetSeccompFilter / sizeof kOcinetSeccompFilter[0]),
                  const_cast<sock_filter*>(kOcinetSeccompFilter)};
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
}

}  // namespace ocinet
