// The server's one epoll loop. Every registered fd carries a Watch; objects that go away while
// a batch of events is being handled are only marked dead and freed after the batch, so a later
// event of the same batch never reaches freed memory.
#pragma once
#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "netcore/fsutil.h"

namespace ocinet::dns {

using Clock = std::chrono::steady_clock;

struct Watch {
  virtual ~Watch() = default;
  virtual void on_event(uint32_t events) = 0;
  bool dead = false;
};

class Loop {
 public:
  Loop();
  bool add(int fd, uint32_t events, Watch* w);
  bool modify(int fd, uint32_t events, Watch* w);
  void remove(int fd);
  // Waits up to `timeout_ms` and dispatches; then frees what was retired meanwhile.
  void run_once(int timeout_ms);
  // Frees `w` after the current batch (it must already be out of the loop).
  void retire(std::unique_ptr<Watch> w);

 private:
  UniqueFd ep_;
  std::vector<std::unique_ptr<Watch>> retired_;
};

}  // namespace ocinet::dns
