#include "dns/loop.h"

#include <cerrno>

#include "base/error.h"

namespace ocinet::dns {

Loop::Loop() : ep_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!ep_) fail_system("epoll_create1", errno);
}

bool Loop::add(int fd, uint32_t events, Watch* w) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  return ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool Loop::modify(int fd, uint32_t events, Watch* w) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  return ::epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void Loop::remove(int fd) { ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void Loop::run_once(int timeout_ms) {
  epoll_event evs[64];
  int n = ::epoll_wait(ep_.get(), evs, 64, timeout_ms);
  for (int i = 0; i < n; i++) {
    auto* w = static_cast<Watch*>(evs[i].data.ptr);
    if (!w->dead) w->on_event(evs[i].events);
  }
  retired_.clear();
}

void Loop::retire(std::unique_ptr<Watch> w) {
  w->dead = true;
  retired_.push_back(std::move(w));
}

}  // namespace ocinet::dns
