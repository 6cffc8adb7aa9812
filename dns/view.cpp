#include "dns/view.h"

#include <arpa/inet.h>
#include <sys/random.h>

#include <algorithm>
#include <ctime>

namespace ocinet::dns {

namespace {

// How many holders one query looks at: bounds the work of a name that thousands of containers
// share (runc's default hostname, for one) while a real alias has a handful.
constexpr size_t kMaxScan = 1024;

void add_name(NetPresence& p, std::string name) {
  if (name.empty()) return;
  if (std::find(p.names.begin(), p.names.end(), name) == p.names.end()) p.names.push_back(std::move(name));
}

// The names a container answers to on p.network, local or remote alike: name, name.network,
// aliases, hostname, short id; PTR answers name.network.
void add_names(NetPresence& p, const std::string& name, const std::vector<std::string>& aliases,
               const std::string& hostname, const std::string& short_id) {
  const std::string lower = lowercase(name);
  add_name(p, lower);
  if (!lower.empty()) add_name(p, lower + "." + lowercase(p.network));
  for (const auto& alias : aliases) add_name(p, lowercase(alias));
  add_name(p, lowercase(hostname));
  add_name(p, lowercase(short_id));
  p.ptr_name = (name.empty() ? short_id : name) + "." + p.network + ".";
}

std::optional<NetPresence> presence(const EndpointRecord& r, const Attachment& a, const NetworkDef& def) {
  NetPresence p;
  p.network = a.network;
  p.has4 = !a.ip.empty() && ::inet_pton(AF_INET, a.ip.c_str(), p.v4.data()) == 1;
  p.has6 = !a.ip6.empty() && ::inet_pton(AF_INET6, a.ip6.c_str(), p.v6.data()) == 1;
  if (!p.has4 && !p.has6) return std::nullopt;
  p.internal = def.internal || a.internal;
  add_names(p, r.name, a.aliases, r.hostname, r.short_id());
  return p;
}

}  // namespace

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::optional<Member> member_from_record(const EndpointRecord& r, const NetworkLookup& networks) {
  if (!r.ready()) return std::nullopt;
  Member m;
  for (const auto& a : r.attachments) {
    const NetworkDef* def = networks(a.network);
    if (!def || !has_embedded_dns(*def)) continue;
    if (std::any_of(m.nets.begin(), m.nets.end(), [&](const NetPresence& p) { return p.network == a.network; })) continue;
    if (auto p = presence(r, a, *def)) m.nets.push_back(std::move(*p));
  }
  if (m.nets.empty()) return std::nullopt;
  m.id = r.id;
  m.name = r.name;
  m.netns = r.netns;
  m.netns_id = r.netns_id;
  m.dns = r.dns;
  for (const auto& l : r.links) m.links.push_back({lowercase(l.alias), lowercase(l.name)});
  return m;
}

std::string remote_key(const std::string& network, const std::string& id) { return "remote/" + network + "/" + id; }

Member member_from_remote(const RemoteEndpoint& e, const std::string& network) {
  Member m;
  m.id = remote_key(network, e.id);
  m.name = e.name.empty() ? display_id(e.id) : e.name;
  m.remote = true;
  NetPresence p;
  p.network = network;
  p.has4 = ::inet_pton(AF_INET, e.ip.c_str(), p.v4.data()) == 1;
  add_names(p, e.name, e.aliases, e.hostname, display_id(e.id));
  m.nets.push_back(std::move(p));
  return m;
}

View::View() {
  if (::getrandom(&rng_, sizeof rng_, GRND_NONBLOCK) != sizeof rng_) rng_ = uint64_t(::time(nullptr));
  rng_ |= 1;
}

// xorshift: the rotation of answers needs spread, not secrecy.
uint64_t View::next_random() const {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

const std::string& View::key(std::string_view network, std::string_view name) const {
  key_.assign(network);
  key_ += '/';
  key_.append(name);
  return key_;
}

const Member& View::put(Member m) {
  remove(m.id);
  auto owned = std::make_unique<Member>(std::move(m));
  Member& ref = *owned;
  members_.emplace(ref.id, std::move(owned));
  index(ref);
  return ref;
}

void View::index(Member& m) {
  for (uint32_t n = 0; n < m.nets.size(); n++) {
    const NetPresence& p = m.nets[n];
    for (const auto& name : p.names) {
      auto& holders = names_[key(p.network, name)];
      m.slots_.push_back({key_, uint32_t(holders.size())});
      holders.push_back({&m, n, uint32_t(m.slots_.size() - 1)});
    }
    if (p.has4) addrs_[key(p.network, {reinterpret_cast<const char*>(p.v4.data()), 4})] = {&m, n, 0};
    if (p.has6) addrs_[key(p.network, {reinterpret_cast<const char*>(p.v6.data()), 16})] = {&m, n, 0};
  }
  if (!m.remote) by_name_[lowercase(m.name)] = &m;
}

void View::unindex(Member& m) {
  for (const auto& slot : m.slots_) {
    auto it = names_.find(slot.key);
    if (it == names_.end()) continue;
    auto& holders = it->second;
    holders[slot.pos] = holders.back();
    holders[slot.pos].m->slots_[holders[slot.pos].slot].pos = slot.pos;
    holders.pop_back();
    if (holders.empty()) names_.erase(it);
  }
  m.slots_.clear();
  for (const auto& p : m.nets) {
    for (auto [has, bytes, len] : {std::tuple{p.has4, p.v4.data(), 4}, std::tuple{p.has6, p.v6.data(), 16}}) {
      if (!has) continue;
      auto it = addrs_.find(key(p.network, {reinterpret_cast<const char*>(bytes), size_t(len)}));
      if (it != addrs_.end() && it->second.m == &m) addrs_.erase(it);
    }
  }
  auto it = by_name_.find(lowercase(m.name));
  if (it != by_name_.end() && it->second == &m) by_name_.erase(it);
}

void View::remove(const std::string& id) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  unindex(*it->second);
  members_.erase(it);
}

const Member* View::find(const std::string& id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : it->second.get();
}

const Member* View::by_name_or_id(const std::string& target) const {
  if (auto it = by_name_.find(target); it != by_name_.end()) return it->second;
  return find(target);
}

static const uint8_t* address_of(const NetPresence& p, int family) {
  if (family == AF_INET) return p.has4 ? p.v4.data() : nullptr;
  return p.has6 ? p.v6.data() : nullptr;
}

// A link answers for its declarer only, and only when the target shares a network with it
// (Docker's links work on a common network only).
bool View::lookup_link(const Member& asker, std::string_view name, int family, std::vector<const uint8_t*>& out,
                       size_t max) const {
  for (const auto& l : asker.links) {
    if (name != l.alias && name != l.target) continue;
    const Member* t = by_name_or_id(l.target);
    if (!t) continue;
    bool shared = false;
    for (const auto& mine : asker.nets)
      for (const auto& theirs : t->nets) {
        if (mine.network != theirs.network) continue;
        shared = true;
        const uint8_t* a = address_of(theirs, family);
        if (a && out.size() < max) out.push_back(a);
      }
    if (shared) return true;
  }
  return false;
}

bool View::lookup(const Member& asker, std::string_view name, int family, std::vector<const uint8_t*>& out,
                  size_t max) const {
  out.clear();
  if (!asker.links.empty() && lookup_link(asker, name, family, out, max)) return true;
  spans_.clear();
  size_t total = 0;
  for (const auto& p : asker.nets) {
    auto it = names_.find(key(p.network, name));
    if (it == names_.end()) continue;
    spans_.push_back(&it->second);
    total += it->second.size();
  }
  if (total == 0) return false;
  // Walk the holders of every shared network as one ring from a random start: a rotation.
  size_t start = next_random() % total;
  size_t scan = std::min(total, kMaxScan);
  size_t span = 0, off = start;
  while (off >= spans_[span]->size()) off -= spans_[span++]->size();
  for (size_t i = 0; i < scan && out.size() < max; i++) {
    const Holder& h = (*spans_[span])[off];
    if (const uint8_t* a = address_of(h.m->nets[h.net], family)) out.push_back(a);
    if (++off == spans_[span]->size()) {
      off = 0;
      span = (span + 1) % spans_.size();
    }
  }
  return true;
}

const std::string* View::reverse(const Member& asker, int family, const uint8_t* addr) const {
  std::string_view bytes(reinterpret_cast<const char*>(addr), family == AF_INET ? 4 : 16);
  for (const auto& p : asker.nets) {
    auto it = addrs_.find(key(p.network, bytes));
    if (it != addrs_.end()) return &it->second.m->nets[it->second.net].ptr_name;
  }
  return nullptr;
}

}  // namespace ocinet::dns
