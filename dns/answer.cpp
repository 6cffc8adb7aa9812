#include "dns/answer.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <string_view>

extern "C" {
#include <libknot/libknot.h>
}

namespace ocinet::dns {

namespace {

// Queries carry no records besides an OPT (and perhaps a TSIG we ignore): more is either not a
// query we serve or an attempt to make parsing expensive.
constexpr uint16_t kMaxAdditional = 2;

uint16_t udp_limit(const knot_pkt_t* q) {
  if (!q->opt_rr) return KNOT_WIRE_MIN_PKTSIZE;
  return std::clamp<uint16_t>(knot_edns_get_payload(q->opt_rr), KNOT_WIRE_MIN_PKTSIZE, kMaxUdpAnswer);
}

// Wire size of one answer record whose owner is a pointer to the question name.
size_t record_size(size_t rdata) { return 2 + 2 + 2 + 4 + 2 + rdata; }

bool digits(std::string_view s, unsigned* value) {
  if (s.empty() || s.size() > 3) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + unsigned(c - '0');
  }
  *value = v;
  return v <= 255;
}

int hex_nibble(std::string_view s) {
  if (s.size() != 1) return -1;
  char c = s[0];
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Arena::Arena() : buf_(kSize) {
  mm_.ctx = this;
  mm_.alloc = &Arena::alloc;
  mm_.free = [](void*) {};
}

void* Arena::alloc(void* ctx, size_t len) {
  auto* a = static_cast<Arena*>(ctx);
  size_t start = (a->used_ + 15) & ~size_t(15);
  if (start > a->buf_.size() || len > a->buf_.size() - start) return nullptr;
  a->used_ = start + len;
  return a->buf_.data() + start;
}

bool parse_reverse_name(const uint8_t* name, int* family, uint8_t* addr) {
  std::string_view labels[34];
  size_t n = 0;
  for (const uint8_t* p = name; *p; p += *p + 1) {
    if (n == 34) return false;
    labels[n++] = std::string_view(reinterpret_cast<const char*>(p + 1), *p);
  }
  if (n == 6 && labels[4] == "in-addr" && labels[5] == "arpa") {
    for (size_t i = 0; i < 4; i++) {
      unsigned v;
      if (!digits(labels[i], &v)) return false;
      addr[3 - i] = uint8_t(v);
    }
    *family = AF_INET;
    return true;
  }
  if (n == 34 && labels[32] == "ip6" && labels[33] == "arpa") {
    std::memset(addr, 0, 16);
    for (size_t i = 0; i < 32; i++) {
      int v = hex_nibble(labels[i]);
      if (v < 0) return false;
      size_t nibble = 31 - i;  // the first label is the last nibble
      addr[nibble / 2] |= uint8_t(nibble % 2 ? v : v << 4);
    }
    *family = AF_INET6;
    return true;
  }
  return false;
}

size_t header_reply(const uint8_t* query, uint8_t rcode, uint8_t* out) {
  std::memcpy(out, query, KNOT_WIRE_HEADER_SIZE);
  knot_wire_set_qr(out);
  knot_wire_clear_aa(out);
  knot_wire_clear_tc(out);
  knot_wire_clear_ra(out);
  knot_wire_set_rcode(out, rcode);
  knot_wire_set_qdcount(out, 0);
  knot_wire_set_ancount(out, 0);
  knot_wire_set_nscount(out, 0);
  knot_wire_set_arcount(out, 0);
  return KNOT_WIRE_HEADER_SIZE;
}

Responder::Responder() {
  if (::getrandom(&rng_, sizeof rng_, GRND_NONBLOCK) != sizeof rng_) rng_ = uint64_t(::time(nullptr));
}

namespace {

// What a local name answers, once the view said it is local.
struct Local {
  uint16_t type = 0;                    // A, AAAA or PTR; 0 = NODATA
  const std::vector<const uint8_t*>* addrs = nullptr;
  const std::string* ptr = nullptr;
};

// Parses `query` (with its counts already checked) into a packet allocated in the arena.
knot_pkt_t* parse_query(Arena& arena, const uint8_t* query, size_t len) {
  arena.reset();
  // libknot parses in place and never writes to a query's wire.
  knot_pkt_t* q = knot_pkt_new(const_cast<uint8_t*>(query), uint16_t(len), arena.mm());
  if (!q || knot_pkt_parse(q, 0) != KNOT_EOK || !knot_pkt_qname(q)) return nullptr;
  return q;
}

knot_pkt_t* begin_reply(Arena& arena, const knot_pkt_t* q, uint8_t* out, size_t cap, uint8_t rcode) {
  knot_pkt_t* r = knot_pkt_new(out, uint16_t(std::min<size_t>(cap, KNOT_WIRE_MAX_PKTSIZE)), arena.mm());
  if (!r || knot_pkt_init_response(r, q) != KNOT_EOK) return nullptr;
  knot_wire_set_rcode(r->wire, rcode);
  return r;
}

// Puts `l` into the answer section: as many addresses as fit `r` (TC when some did not).
bool put_answer(knot_pkt_t* r, const knot_pkt_t* q, const Local& l, uint64_t rotate, knot_mm_t* mm) {
  if (l.type == 0) return true;
  knot_rrset_t rr;
  knot_rrset_init(&rr, const_cast<knot_dname_t*>(knot_pkt_qname(q)), l.type, KNOT_CLASS_IN, kAnswerTtl);
  if (l.type == KNOT_RRTYPE_PTR) {
    knot_dname_storage_t target;
    if (!knot_dname_from_str(target, l.ptr->c_str(), sizeof target)) return false;
    if (knot_rrset_add_rdata(&rr, target, uint16_t(knot_dname_size(target)), mm) != KNOT_EOK) return false;
  } else {
    size_t len = l.type == KNOT_RRTYPE_A ? 4 : 16;
    size_t room = r->max_size > r->size + r->reserved ? r->max_size - r->size - r->reserved : 0;
    size_t fit = std::min(l.addrs->size(), room / record_size(len));
    if (fit < l.addrs->size()) knot_wire_set_tc(r->wire);
    for (size_t i = 0; i < fit; i++)
      if (knot_rrset_add_rdata(&rr, (*l.addrs)[i], uint16_t(len), mm) != KNOT_EOK) return false;
    if (fit == 0) return true;
  }
  // The rdataset is kept sorted; rotating it on the wire is what spreads clients over holders.
  int ret = knot_pkt_put_rotate(r, KNOT_COMPR_HINT_QNAME, &rr, uint16_t(rotate % rr.rrs.count), 0);
  return ret == KNOT_EOK || ret == KNOT_ESPACE;  // ESPACE: TC set, the client retries over TCP
}

bool put_opt(knot_pkt_t* r, knot_rrset_t* opt, size_t reserved) {
  if (!opt) return true;
  knot_pkt_reclaim(r, uint16_t(reserved));
  if (knot_pkt_begin(r, KNOT_ADDITIONAL) != KNOT_EOK) return false;
  return knot_pkt_put(r, KNOT_COMPR_HINT_NONE, opt, 0) == KNOT_EOK;
}

void copy_question(const knot_pkt_t* q, Question* out) {
  out->name_len = knot_dname_size(knot_pkt_qname(q));
  std::memcpy(out->name, knot_pkt_qname(q), out->name_len);
  out->type = knot_pkt_qtype(q);
  out->qclass = knot_pkt_qclass(q);
}

}  // namespace

bool Question::operator==(const Question& o) const {
  return name_len == o.name_len && type == o.type && qclass == o.qclass && std::memcmp(name, o.name, name_len) == 0;
}

bool Responder::read_question(const uint8_t* msg, size_t len, Question* out) {
  if (len < KNOT_WIRE_HEADER_SIZE || knot_wire_get_qdcount(msg) != 1) return false;
  arena_.reset();
  knot_pkt_t* p = knot_pkt_new(const_cast<uint8_t*>(msg), uint16_t(std::min<size_t>(len, KNOT_WIRE_MAX_PKTSIZE)), arena_.mm());
  if (!p || knot_pkt_parse_question(p) != KNOT_EOK || !knot_pkt_qname(p)) return false;
  copy_question(p, out);
  return true;
}

Action Responder::respond(const View& view, const Member& asker, bool can_forward, const uint8_t* query, size_t len,
                          bool udp, uint8_t* out, size_t cap, size_t* out_len) {
  if (len < KNOT_WIRE_HEADER_SIZE || len > KNOT_WIRE_MAX_PKTSIZE || cap < KNOT_WIRE_MIN_PKTSIZE) return Action::Drop;
  if (knot_wire_get_qr(query)) return Action::Drop;  // never answer an answer: no loops
  uint8_t early = 0;
  if (knot_wire_get_opcode(query) != KNOT_OPCODE_QUERY) early = KNOT_RCODE_NOTIMPL;
  else if (knot_wire_get_qdcount(query) != 1 || knot_wire_get_ancount(query) || knot_wire_get_nscount(query) ||
           knot_wire_get_arcount(query) > kMaxAdditional)
    early = KNOT_RCODE_FORMERR;
  knot_pkt_t* q = early ? nullptr : parse_query(arena_, query, len);
  if (!q) {
    *out_len = header_reply(query, early ? early : uint8_t(KNOT_RCODE_FORMERR), out);
    return Action::Reply;
  }

  Local local;
  bool is_local = false;
  uint16_t qtype = knot_pkt_qtype(q), qclass = knot_pkt_qclass(q);
  if (qclass == KNOT_CLASS_IN || qclass == KNOT_CLASS_ANY) {
    if (qtype == KNOT_RRTYPE_PTR) {
      int family;
      uint8_t addr[16];
      if (parse_reverse_name(knot_pkt_qname(q), &family, addr)) local.ptr = view.reverse(asker, family, addr);
      is_local = local.ptr != nullptr;
      if (is_local) local.type = KNOT_RRTYPE_PTR;
    } else {
      char text[KNOT_DNAME_TXT_MAXLEN + 1];
      if (knot_dname_to_str(text, knot_pkt_qname(q), sizeof text)) {
        std::string_view name(text);
        if (!name.empty() && name.back() == '.') name.remove_suffix(1);
        int family = qtype == KNOT_RRTYPE_AAAA ? AF_INET6 : AF_INET;
        is_local = view.lookup(asker, name, family, addrs_, kMaxAddresses);
        bool wants = qtype == KNOT_RRTYPE_A || qtype == KNOT_RRTYPE_AAAA || qtype == KNOT_RRTYPE_ANY;
        if (is_local && wants && !addrs_.empty()) {
          local.type = family == AF_INET ? KNOT_RRTYPE_A : KNOT_RRTYPE_AAAA;
          local.addrs = &addrs_;
        }
      }
    }
  }
  if (!is_local && can_forward) {
    copy_question(q, &question_);
    udp_limit_ = udp_limit(q);
    return Action::Forward;
  }

  size_t limit = udp ? std::min<size_t>(cap, udp_limit(q)) : cap;
  knot_pkt_t* r = begin_reply(arena_, q, out, limit, is_local ? KNOT_RCODE_NOERROR : KNOT_RCODE_SERVFAIL);
  if (!r) return Action::Drop;
  if (is_local) knot_wire_set_aa(r->wire);
  if (can_forward) knot_wire_set_ra(r->wire);
  knot_rrset_t opt;
  knot_rrset_t* optp = nullptr;
  size_t reserved = 0;
  if (q->opt_rr && knot_edns_init(&opt, kMaxUdpAnswer, 0, 0, arena_.mm()) == KNOT_EOK) {
    optp = &opt;
    reserved = knot_edns_wire_size(&opt);
    if (knot_pkt_reserve(r, uint16_t(reserved)) != KNOT_EOK) return Action::Drop;
  }
  if (knot_pkt_begin(r, KNOT_ANSWER) != KNOT_EOK) return Action::Drop;
  rng_ = rng_ * 6364136223846793005ULL + 1442695040888963407ULL;
  if (!put_answer(r, q, local, rng_ >> 33, arena_.mm()) || !put_opt(r, optp, reserved)) return Action::Drop;
  *out_len = r->size;
  return Action::Reply;
}

bool Responder::empty_reply(const uint8_t* query, size_t len, uint8_t rcode, bool truncated, uint8_t* out, size_t cap,
                            size_t* out_len) {
  if (len < KNOT_WIRE_HEADER_SIZE || knot_wire_get_qdcount(query) != 1) return false;
  knot_pkt_t* q = parse_query(arena_, query, len);
  if (!q) return false;
  knot_pkt_t* r = begin_reply(arena_, q, out, cap, rcode);
  if (!r) return false;
  knot_wire_set_ra(r->wire);
  if (truncated) knot_wire_set_tc(r->wire);
  *out_len = r->size;
  return true;
}

}  // namespace ocinet::dns
