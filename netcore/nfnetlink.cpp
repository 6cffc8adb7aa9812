#include "netcore/nfnetlink.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <ctime>
#include <mutex>

namespace ocinet {

void close_after_reclaim(int fd) {
  static std::mutex mu;
  static std::vector<pid_t> closers;
  std::lock_guard<std::mutex> lock(mu);
  closers.erase(std::remove_if(closers.begin(), closers.end(),
                               [](pid_t p) {
                                 int r = waitpid(p, nullptr, WNOHANG);
                                 return r == p || (r < 0 && errno == ECHILD);
                               }),
                closers.end());
  int order[2];
  if (pipe2(order, O_CLOEXEC) != 0) {
    close(fd);
    return;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    // Keep fd and order[0] only: close every range around them.
    const unsigned lo = unsigned(std::min(fd, order[0])), hi = unsigned(std::max(fd, order[0]));
    if (lo > 0) close_range(0, lo - 1, 0);
    if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
    close_range(hi + 1, ~0u, 0);
    char c;
    while (read(order[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {  // nohz_full kernels refuse it
      timespec t{0, 50 * 1000 * 1000};
      nanosleep(&t, nullptr);
    }
    close(fd);
    _exit(0);
  }
  if (pid > 0) closers.push_back(pid);
  close(order[0]);
  close(fd);  // with the child holding the socket, this only drops a reference
  close(order[1]);  // and now the child may go on
}

bool answers_nftables(NfNetlink& nl) {
  return nl.request(NlMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST, AF_UNSPEC),
                    (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN) == 0;
}

}  // namespace ocinet
