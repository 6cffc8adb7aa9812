// nf_tables over netfilter netlink, without libnftables: messages, one socket, and reading
// attributes back. The firewall's fast path (element batches) and its reads and writes of other
// managers' chains go through here; everything with a syntax worth reading goes through
// libnftables instead (netcore/firewall/nft_lib.h).
#pragma once
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace ocinet {

// One netlink message under construction: header, nfgenmsg, attributes.
class NlMessage {
 public:
  NlMessage(uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id = 0) {
    nlmsghdr nh{};
    nh.nlmsg_type = type;
    nh.nlmsg_flags = flags;
    nfgenmsg g{};
    g.nfgen_family = family;
    g.version = NFNETLINK_V0;
    g.res_id = htons(res_id);
    append(&nh, sizeof nh);
    append(&g, sizeof g);
  }

  NlMessage& attr(uint16_t type, const void* data, size_t len) {
    nlattr a{};
    a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
    a.nla_type = type;
    append(&a, sizeof a);
    append(data, len);
    return *this;
  }
  NlMessage& attr(uint16_t type, const std::string& value) { return attr(type, value.data(), value.size()); }
  NlMessage& attr_str(uint16_t type, const char* s) { return attr(type, s, std::strlen(s) + 1); }
  NlMessage& attr_be32(uint16_t type, uint32_t value) {
    const uint32_t be = htonl(value);
    return attr(type, &be, sizeof be);
  }

  size_t begin(uint16_t type) {
    size_t at = buf_.size();
    nlattr a{};
    a.nla_type = type | NLA_F_NESTED;
    append(&a, sizeof a);
    return at;
  }
  void end(size_t at) {
    const uint16_t len = static_cast<uint16_t>(buf_.size() - at);
    std::memcpy(&buf_[at], &len, sizeof len);  // nla_len is the first member
  }

  uint16_t type() const { return reinterpret_cast<const nlmsghdr*>(buf_.data())->nlmsg_type; }
  size_t size() const { return buf_.size(); }

  // Finished message with its sequence number.
  std::string take(uint32_t seq) {
    auto* nh = reinterpret_cast<nlmsghdr*>(&buf_[0]);
    nh->nlmsg_len = static_cast<uint32_t>(buf_.size());
    nh->nlmsg_seq = seq;
    return buf_;
  }

 private:
  void append(const void* p, size_t len) {
    buf_.append(static_cast<const char*>(p), len);
    buf_.append(NLA_ALIGN(len) - len, '\0');
  }
  std::string buf_;
};

// Closes a netfilter socket without making anyone wait for the kernel's reclaim of removed
// elements.
//
// The release of a netfilter socket flushes nf_tables' deferred destruction of committed
// removals, under the netns's commit mutex; that destruction waits for an RCU grace period.
// So a close right after a removal took 10-30 ms here, half of a teardown (strace: close()
// 14.9 ms, every other step under 0.1 ms), and any other hook's commit waited for that mutex
// meanwhile. The removal itself is complete and visible once the commit is acknowledged; only
// memory reclaim is left. So a child process inherits the socket, holds nothing else (the
// runtime waits until the hook's stdout and stderr close), lets the parent drop its copy (a
// pipe orders the two), waits for a grace period of its own without holding any lock
// (membarrier's global command is one synchronize_rcu), and only then does the last close,
// which by then finds nothing to wait for. The hook returns at once; the child exits within
// about a grace period. If pipe or fork fails, the close simply waits.
//
// The hook exits right after, and its children go to the runtime's reaper. A long-lived process
// (`ocinet gc` over many endpoints, the agent) reaps the closers it started earlier each time it
// starts one, by pid, so that at most the last few linger as zombies and no other child's exit
// status is ever taken.
void close_after_reclaim(int fd);

// A netfilter netlink socket. The kernel handles a request while it is being sent, so every
// answer is queued by the time sendmsg returns: reading never waits.
class NfNetlink {
 public:
  NfNetlink() : fd_(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) {}
  ~NfNetlink() {
    if (fd_ < 0) return;
    if (removed_)
      close_after_reclaim(fd_);
    else
      close(fd_);
  }
  NfNetlink(const NfNetlink&) = delete;
  NfNetlink& operator=(const NfNetlink&) = delete;

  // One request outside a batch; 0 when the kernel answered with `reply_type` (handed to
  // on_reply, if given), else an errno.
  int request(NlMessage m, uint16_t reply_type, const std::function<void(const nlmsghdr*)>& on_reply = {}) {
    const uint32_t seq = next_seq_++;
    if (int err = send(m.take(seq))) return err;
    int err = EPROTO;
    read_answers([&](const nlmsghdr* nh) {
      if (nh->nlmsg_seq != seq) return;
      if (nh->nlmsg_type == NLMSG_ERROR) {
        err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
      } else if (nh->nlmsg_type == reply_type) {
        err = 0;
        if (on_reply) on_reply(nh);
      }
    });
    return err;
  }

  // A dump (m has NLM_F_DUMP): each `reply_type` message goes to on_reply; 0 at its end, else an
  // errno (EINTR: the ruleset changed during the dump, which is then incomplete). The kernel
  // fills the later parts of a dump as the earlier ones are read, so this reads until the end.
  int dump(NlMessage m, uint16_t reply_type, const std::function<void(const nlmsghdr*)>& on_reply) {
    const uint32_t seq = next_seq_++;
    if (int err = send(m.take(seq))) return err;
    alignas(nlmsghdr) char buf[16384];
    int err = 0;
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? errno : EPROTO;
      int len = static_cast<int>(n);
      for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
        if (nh->nlmsg_seq != seq) continue;
        if (nh->nlmsg_flags & NLM_F_DUMP_INTR) err = EINTR;
        if (nh->nlmsg_type == NLMSG_DONE) return err;
        if (nh->nlmsg_type == NLMSG_ERROR) return -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
        if (nh->nlmsg_type == reply_type) on_reply(nh);
      }
    }
  }

  // One transaction: the kernel applies every message or none. 0, or the first error.
  int transaction(std::vector<NlMessage> messages) {
    std::string batch = NlMessage(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES).take(next_seq_++);
    const uint32_t first = next_seq_;
    bool has_removal = false;
    for (auto& m : messages) {
      has_removal = has_removal || (m.type() & 0xff) == NFT_MSG_DELSETELEM || (m.type() & 0xff) == NFT_MSG_DELRULE;
      batch += m.take(next_seq_++);
    }
    const uint32_t last = next_seq_;
    batch += NlMessage(NFNL_MSG_BATCH_END, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES).take(next_seq_++);
    if (batch.size() > kDefaultBatch) make_room(batch.size());
    if (int err = send(batch)) return err;
    // Every message asked for an acknowledgement: all of them acknowledged means committed.
    int err = 0;
    size_t acks = 0;
    read_answers([&](const nlmsghdr* nh) {
      if (nh->nlmsg_type != NLMSG_ERROR || nh->nlmsg_seq < first || nh->nlmsg_seq >= last) return;
      int e = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(nh))->error;
      if (e == 0)
        ++acks;
      else if (err == 0)
        err = e;
    });
    if (err == 0 && acks != messages.size()) err = EPROTO;
    if (err == 0) removed_ = removed_ || has_removal;
    return err;
  }

 private:
  // A batch goes in one sendmsg, which the kernel refuses beyond the socket's send buffer
  // (EMSGSIZE). Most are a few hundred bytes; a long shifted range (nftables has no port
  // offset: one element per port) is ~120 bytes per port.
  static constexpr size_t kDefaultBatch = 64 * 1024;

  // Room for one batch of `bytes`, as nft does it (SO_SNDBUFFORCE: the hook has CAP_NET_ADMIN;
  // else up to net.core.wmem_max); and acknowledgements of failed messages without the message
  // in them (NETLINK_CAP_ACK): a list of hundreds of elements would not fit a read. If either
  // fails, the send fails with EMSGSIZE and libnftables, which splits its batches, takes over.
  void make_room(size_t bytes) {
    const int size = int(std::min<size_t>(bytes + 4096, 1 << 30));
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    const int one = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  }

  int send(const std::string& bytes) {
    if (fd_ < 0) return EAFNOSUPPORT;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr mh{};
    mh.msg_name = &kernel;
    mh.msg_namelen = sizeof kernel;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    return sendmsg(fd_, &mh, 0) == static_cast<ssize_t>(bytes.size()) ? 0 : errno;
  }

  template <class F>
  void read_answers(F on_message) {
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return;
      int len = static_cast<int>(n);
      for (auto* nh = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) on_message(nh);
    }
  }

  int fd_;
  uint32_t next_seq_ = 1;
  bool removed_ = false;  // a committed batch removed elements: see close_after_reclaim
};

// Calls f(type, data, len) for each attribute in [p, p + len).
template <class F>
void each_attr(const char* p, size_t len, F f) {
  while (len >= NLA_HDRLEN) {
    nlattr a;
    std::memcpy(&a, p, sizeof a);
    if (a.nla_len < NLA_HDRLEN || a.nla_len > len) return;
    f(a.nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, size_t(a.nla_len - NLA_HDRLEN));
    const size_t step = NLA_ALIGN(a.nla_len);
    if (step >= len) return;
    p += step;
    len -= step;
  }
}

// The attributes of an nf_tables message, after its nfgenmsg.
template <class F>
void each_message_attr(const nlmsghdr* nh, F f) {
  const size_t head = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (nh->nlmsg_len < head) return;
  each_attr(reinterpret_cast<const char*>(nh) + head, nh->nlmsg_len - head, f);
}

inline std::string attr_string(const char* data, size_t len) { return std::string(data, strnlen(data, len)); }

// One NFT_MSG_GETGEN: the kernel answers it only when nf_tables is there, and it costs a few
// microseconds, with neither libnftables nor a listing.
bool answers_nftables(NfNetlink& nl);

}  // namespace ocinet
