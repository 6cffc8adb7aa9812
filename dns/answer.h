// Answers a query from the view, or says it must be forwarded. The wire format is libknot's
// (Knot DNS / Knot Resolver, Debian's libknot-dev): it parses in place in the caller's buffer
// and allocates only through a context we give it, here an arena reset per query, so answering
// costs no heap allocation at all (ldns allocates every name and record it parses).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <libknot/mm_ctx.h>  // a plain struct: no C linkage needed

#include "dns/view.h"

namespace ocinet::dns {

// The largest UDP answer we send, whatever a client's EDNS says: 127.0.0.11 is on lo, where
// nothing fragments, and 4096 is RFC 6891's recommended cap.
inline constexpr size_t kMaxUdpAnswer = 4096;
// Bounds the work of one answer (a name thousands of containers hold).
inline constexpr size_t kMaxAddresses = 256;

enum class Action { Drop, Reply, Forward };

// The question of a message, for matching an upstream's answer to the query it answers.
struct Question {
  uint8_t name[256];  // lowercase wire form
  size_t name_len = 0;
  uint16_t type = 0, qclass = 0;
  bool operator==(const Question& o) const;
};

// Bump allocator for libknot, reset per query: no allocation on the query path, and a hostile
// packet cannot make one query use more than its size (libknot then fails and we drop it).
class Arena {
 public:
  Arena();
  void reset() { used_ = 0; }
  knot_mm_t* mm() { return &mm_; }

 private:
  static void* alloc(void* ctx, size_t len);
  static constexpr size_t kSize = 256 * 1024;
  std::vector<uint8_t> buf_;
  size_t used_ = 0;
  knot_mm_t mm_{};
};

class Responder {
 public:
  Responder();
  // `query` (parsed in place, not modified) from `asker`; `udp` says which transport it came
  // by (UDP answers fit the client's EDNS size, else 512, and set TC when cut). On Reply, the
  // answer is in `out` (capacity `cap`), `*out_len` bytes. `can_forward` false: a name that is
  // not local gets SERVFAIL instead of Forward.
  Action respond(const View& view, const Member& asker, bool can_forward, const uint8_t* query, size_t len, bool udp,
                 uint8_t* out, size_t cap, size_t* out_len);
  // A reply carrying only the question of `query`, with `rcode` (and TC when `truncated`): what
  // a client gets when upstreams fail, or an upstream's answer does not fit its UDP size.
  // False when `query` does not parse.
  // After respond() said Forward: the query's question and the UDP size its client takes.
  const Question& question() const { return question_; }
  size_t client_udp_limit() const { return udp_limit_; }
  // Reads the question of a message (an upstream's answer); false when it has none.
  bool read_question(const uint8_t* msg, size_t len, Question* q);
  bool empty_reply(const uint8_t* query, size_t len, uint8_t rcode, bool truncated, uint8_t* out, size_t cap,
                   size_t* out_len);

 private:
  Arena arena_;
  std::vector<const uint8_t*> addrs_;
  uint64_t rng_;
  Question question_;
  size_t udp_limit_ = 512;
};

// The address a reverse name (lowercase wire form, ...in-addr.arpa. or ...ip6.arpa.) stands
// for: family AF_INET (4 bytes) or AF_INET6 (16 bytes). False for any other name.
bool parse_reverse_name(const uint8_t* name, int* family, uint8_t* addr);

// Header-only reply (question dropped) with `rcode`: for queries too broken to echo.
size_t header_reply(const uint8_t* query, uint8_t rcode, uint8_t* out);

}  // namespace ocinet::dns
