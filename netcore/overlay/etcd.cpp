#include "netcore/overlay/etcd.h"

#include <curl/curl.h>


#include "netcore/dynlib.h"
#include "base/error.h"

namespace ocinet {

std::string base64_encode(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += tbl[(v >> s) & 63];
  }
  if (size_t rest = in.size() - i) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += rest == 2 ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& in) {
  if (in.size() % 4) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int pad = 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
      char c = in[i + j];
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        pad++;
        v <<= 6;
        continue;
      }
      int d = val(c);
      if (d < 0 || pad) return std::nullopt;
      v = (v << 6) | uint32_t(d);
    }
    out += char((v >> 16) & 255);
    if (pad < 2) out += char((v >> 8) & 255);
    if (pad < 1) out += char(v & 255);
  }
  return out;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (uint8_t(end.back()) < 0xff) {
      end.back() = char(uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

namespace {

// libcurl, resolved at run time (see etcd.h for why).
struct CurlApi {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  void (*easy_cleanup)(CURL*);
  void (*easy_reset)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

const CurlApi& curl_api() {
  static const CurlApi api = [] {  // a throw leaves it unset: the next call retries
    DynLib lib("libcurl.so.4", "overlay: loading libcurl (package libcurl4)");
    CurlApi r{};
    lib.sym(r.easy_init, "curl_easy_init");
    lib.sym(r.easy_setopt, "curl_easy_setopt");
    lib.sym(r.easy_perform, "curl_easy_perform");
    lib.sym(r.easy_cleanup, "curl_easy_cleanup");
    lib.sym(r.easy_reset, "curl_easy_reset");
    lib.sym(r.easy_getinfo, "curl_easy_getinfo");
    lib.sym(r.easy_strerror, "curl_easy_strerror");
    lib.sym(r.slist_append, "curl_slist_append");
    lib.sym(r.slist_free_all, "curl_slist_free_all");
    return r;
  }();
  return api;
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

struct Headers {
  curl_slist* list = nullptr;
  ~Headers() {
    if (list) curl_api().slist_free_all(list);
  }
};

// Options shared by every request. The gateway answers JSON to a JSON POST.
void common_options(const CurlApi& c, CURL* h, const std::string& url, const std::string& body, Headers& hdr,
                    long connect_ms) {
  c.easy_setopt(h, CURLOPT_URL, url.c_str());
  c.easy_setopt(h, CURLOPT_POST, 1L);
  c.easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  c.easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(body.size()));
  hdr.list = c.slist_append(nullptr, "Content-Type: application/json");
  c.easy_setopt(h, CURLOPT_HTTPHEADER, hdr.list);
  c.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: the hook is single-threaded and confined
  c.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  c.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
}

int64_t to_i64(const nlohmann::json& j) {
  if (j.is_string()) return std::stoll(j.get<std::string>());
  if (j.is_number_integer()) return j.get<int64_t>();
  return 0;
}

EtcdKv kv_from(const nlohmann::json& j) {
  EtcdKv kv;
  kv.key = base64_decode(j.value("key", "")).value_or("");
  kv.value = base64_decode(j.value("value", "")).value_or("");
  if (j.contains("create_revision")) kv.create_revision = to_i64(j["create_revision"]);
  if (j.contains("mod_revision")) kv.mod_revision = to_i64(j["mod_revision"]);
  if (j.contains("lease")) kv.lease = to_i64(j["lease"]);
  return kv;
}

// An error answer of the gateway: {"error": "...", "code": <gRPC code>, "message": "..."}.
std::string error_message(const nlohmann::json& j) {
  return j.contains("message") ? j["message"].get<std::string>() : j.value("error", std::string("HTTP error"));
}

// Unknown when the answer carries no code (an HTTP error from something other than etcd).
GrpcCode error_code(const nlohmann::json& j) {
  const auto it = j.find("code");
  return it != j.end() && it->is_number_integer() ? GrpcCode(it->get<int>()) : GrpcCode::Unknown;
}

}  // namespace

Etcd::Etcd(std::vector<std::string> endpoints, long timeout_ms) : endpoints_(std::move(endpoints)), timeout_ms_(timeout_ms) {
  if (endpoints_.empty()) fail_invalid("overlay: no etcd endpoints configured (etcd.endpoints in the admin config)");
}

Etcd::~Etcd() {
  if (curl_) curl_api().easy_cleanup(static_cast<CURL*>(curl_));
}

nlohmann::json Etcd::call(const std::string& path, const nlohmann::json& body) {
  const CurlApi& c = curl_api();
  if (!curl_) curl_ = c.easy_init();
  if (!curl_) fail_system("overlay: libcurl could not start a request", 0);
  CURL* h = static_cast<CURL*>(curl_);
  std::string payload = body.dump();
  std::string last_error;
  for (size_t attempt = 0; attempt < endpoints_.size(); attempt++) {
    size_t i = (preferred_ + attempt) % endpoints_.size();
    const std::string& ep = endpoints_[i];
    std::string answer;
    Headers hdr;
    c.easy_reset(h);
    common_options(c, h, ep + path, payload, hdr, timeout_ms_);
    c.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms_);
    c.easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    c.easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    CURLcode rc = c.easy_perform(h);
    if (rc != CURLE_OK) {
      last_error = "etcd at " + ep + ": " + c.easy_strerror(rc);
      continue;  // the next endpoint may answer
    }
    preferred_ = i;
    long status = 0;
    c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    nlohmann::json j = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      fail_system("etcd at " + ep + ": answer to " + path + " is not JSON (HTTP " + std::to_string(status) + ")", 0);
    if (j.contains("error") || status != 200)
      throw EtcdError("etcd at " + ep + ": " + path + ": " + error_message(j), error_code(j));
    return j;
  }
  fail_system(last_error, 0);
}

std::optional<EtcdKv> Etcd::get(const std::string& key) {
  auto j = call("/v3/kv/range", {{"key", base64_encode(key)}});
  if (!j.contains("kvs") || j["kvs"].empty()) return std::nullopt;
  return kv_from(j["kvs"][0]);
}

EtcdRange Etcd::range(const std::string& prefix, bool keys_only) {
  nlohmann::json req = {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}};
  if (keys_only) req["keys_only"] = true;
  auto j = call("/v3/kv/range", req);
  EtcdRange r;
  if (j.contains("header") && j["header"].contains("revision")) r.revision = to_i64(j["header"]["revision"]);
  if (j.contains("kvs"))
    for (const auto& kv : j["kvs"]) r.kvs.push_back(kv_from(kv));
  return r;
}

void Etcd::put(const std::string& key, const std::string& value, int64_t lease) {
  nlohmann::json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease) req["lease"] = std::to_string(lease);
  call("/v3/kv/put", req);
}

nlohmann::json Etcd::cmp_absent(const std::string& key) {
  return {{"key", base64_encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
}
nlohmann::json Etcd::cmp_mod_revision(const std::string& key, int64_t rev) {
  return {{"key", base64_encode(key)}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", std::to_string(rev)}};
}
nlohmann::json Etcd::cmp_value(const std::string& key, const std::string& value) {
  return {{"key", base64_encode(key)}, {"target", "VALUE"}, {"result", "EQUAL"}, {"value", base64_encode(value)}};
}
nlohmann::json Etcd::op_put(const std::string& key, const std::string& value, int64_t lease) {
  nlohmann::json p = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease) p["lease"] = std::to_string(lease);
  return {{"request_put", p}};
}
nlohmann::json Etcd::op_delete(const std::string& key) { return {{"request_delete_range", {{"key", base64_encode(key)}}}}; }

bool Etcd::txn(const std::vector<nlohmann::json>& compares, const std::vector<nlohmann::json>& ops) {
  auto j = call("/v3/kv/txn", {{"compare", compares}, {"success", ops}});
  // The gateway omits false booleans: no "succeeded" means the compares failed.
  return j.value("succeeded", false);
}

bool Etcd::create(const std::string& key, const std::string& value, int64_t lease) {
  return txn({cmp_absent(key)}, {op_put(key, value, lease)});
}

void Etcd::remove(const std::string& key) { call("/v3/kv/deleterange", {{"key", base64_encode(key)}}); }

bool Etcd::remove_if(const std::string& key, const std::string& value) {
  return txn({cmp_value(key, value)}, {op_delete(key)});
}

int64_t Etcd::lease_grant(int64_t ttl_seconds) {
  auto j = call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}});
  int64_t id = j.contains("ID") ? to_i64(j["ID"]) : 0;
  if (!id) fail_system("etcd: lease grant returned no lease", 0);
  return id;
}

int64_t Etcd::lease_keepalive(int64_t id) {
  auto j = call("/v3/lease/keepalive", {{"ID", std::to_string(id)}});
  // A stream of one answer: {"result": {"ID": ..., "TTL": ...}}; no TTL = the lease is gone.
  const auto& r = j.contains("result") ? j["result"] : j;
  return r.contains("TTL") ? to_i64(r["TTL"]) : 0;
}

void Etcd::lease_revoke(int64_t id) { call("/v3/lease/revoke", {{"ID", std::to_string(id)}}); }

namespace {
struct WatchState {
  std::string buffer;
  const std::function<bool(const std::vector<EtcdEvent>&, int64_t)>* on_events;
  const std::function<bool()>* keep_going;
  bool stop = false;
  bool compacted = false;
  bool created = false;
  std::string error;
  GrpcCode error_code = GrpcCode::Unknown;
};

size_t watch_body(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<WatchState*>(user);
  st->buffer.append(data, size * n);
  // The gateway writes one JSON object per message, each ending in a newline.
  size_t nl;
  while ((nl = st->buffer.find('\n')) != std::string::npos) {
    std::string line = st->buffer.substr(0, nl);
    st->buffer.erase(0, nl + 1);
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("error")) {
      // A stream's error: {"error": {"grpc_code": ..., "message": ...}}.
      const auto& e = j["error"];
      st->error = e.is_object() ? e.value("message", std::string("watch error")) : e.dump();
      if (e.is_object() && e.contains("grpc_code") && e["grpc_code"].is_number_integer())
        st->error_code = GrpcCode(e["grpc_code"].get<int>());
      return 0;
    }
    const auto& r = j.contains("result") ? j["result"] : j;
    if (r.value("created", false)) st->created = true;
    if (r.contains("compact_revision") && to_i64(r["compact_revision"]) > 0) {
      st->compacted = true;
      return 0;
    }
    if (r.value("canceled", false)) {
      st->error = r.value("cancel_reason", std::string("watch canceled by etcd"));
      return 0;
    }
    std::vector<EtcdEvent> events;
    if (r.contains("events"))
      for (const auto& e : r["events"]) {
        EtcdEvent ev;
        ev.put = e.value("type", std::string("PUT")) != "DELETE";
        if (e.contains("kv")) ev.kv = kv_from(e["kv"]);
        if (!ev.put && e.contains("prev_kv")) {
          auto prev = kv_from(e["prev_kv"]);
          ev.kv.value = prev.value;
        }
        events.push_back(ev);
      }
    int64_t rev = r.contains("header") && r["header"].contains("revision") ? to_i64(r["header"]["revision"]) : 0;
    if (!events.empty() && !(*st->on_events)(events, rev)) {
      st->stop = true;
      return 0;
    }
  }
  return size * n;
}

int watch_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<WatchState*>(user);
  if (!(*st->keep_going)()) {
    st->stop = true;
    return 1;
  }
  return 0;
}
}  // namespace

void Etcd::watch(const std::string& prefix, int64_t start_revision,
                 const std::function<bool(const std::vector<EtcdEvent>&, int64_t)>& on_events,
                 const std::function<bool()>& keep_going, bool& compacted) {
  const CurlApi& c = curl_api();
  nlohmann::json create = {{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}, {"prev_kv", true}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  std::string payload = nlohmann::json{{"create_request", create}}.dump();
  const std::string& ep = endpoints_[preferred_ % endpoints_.size()];
  CURL* h = c.easy_init();
  if (!h) fail_system("overlay: libcurl could not start a request", 0);
  WatchState st;
  st.on_events = &on_events;
  st.keep_going = &keep_going;
  Headers hdr;
  common_options(c, h, ep + "/v3/watch", payload, hdr, timeout_ms_);
  c.easy_setopt(h, CURLOPT_WRITEFUNCTION, watch_body);
  c.easy_setopt(h, CURLOPT_WRITEDATA, &st);
  c.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  c.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, watch_progress);
  c.easy_setopt(h, CURLOPT_XFERINFODATA, &st);
  // A silent peer that vanished (host down, cable cut) is noticed by TCP keepalive.
  c.easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  c.easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
  c.easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
  CURLcode rc = c.easy_perform(h);
  c.easy_cleanup(h);
  compacted = st.compacted;
  if (st.stop || st.compacted) return;
  if (!st.error.empty()) throw EtcdError("etcd at " + ep + ": watch: " + st.error, st.error_code);
  if (rc != CURLE_OK) {
    preferred_++;  // try another endpoint next time
    fail_system("etcd at " + ep + ": watch: " + c.easy_strerror(rc), 0);
  }
  preferred_++;
  fail_system("etcd at " + ep + ": watch stream ended", 0);
}

}  // namespace ocinet
