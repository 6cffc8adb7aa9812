// A small etcd v3 client over its JSON gateway (POST /v3/kv/range, /v3/kv/txn, ...).
//
// Why the JSON gateway and libcurl rather than gRPC: Debian 12 ships no C or C++ etcd client,
// and a gRPC client would pull grpc++, protobuf and generated code into a hook whose whole
// setup budget is a few milliseconds. The gateway is part of every etcd 3.4+ server, speaks
// plain HTTP/1.1 (or HTTPS), and carries the same requests and semantics (transactions,
// leases, watches). libcurl is loaded with dlopen only when an overlay network is involved,
// so bridge-mode invocations never pay for loading it (and its TLS stack).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace ocinet {

// Standard base64 (RFC 4648, with padding): the gateway carries keys and values this way.
// Hand-written: 30 lines, where the alternatives (OpenSSL's EVP_EncodeBlock) would add a
// library to the hook for nothing else.
std::string base64_encode(const std::string& in);
// std::nullopt on malformed input.
std::optional<std::string> base64_decode(const std::string& in);

struct EtcdKv {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

struct EtcdRange {
  std::vector<EtcdKv> kvs;
  int64_t revision = 0;  // the store's revision when the range was read
};

// One watch event (PUT or DELETE); for DELETE, `kv` holds the previous value when known.
struct EtcdEvent {
  bool put = true;
  EtcdKv kv;
};

// gRPC status codes (grpc/codes) as etcd answers them. Named: Unknown (also for an error
// answer without a code) and those a caller tests; any other value is carried as is.
enum class GrpcCode : int { Unknown = 2, NotFound = 5 };

// A request that etcd answered with an error, as opposed to no answer at all (a plain Error).
// It carries etcd's gRPC status code, so a caller tests the code and never the message text.
// A system failure (exit 2) like every etcd failure.
class EtcdError : public Error {
 public:
  EtcdError(const std::string& what, GrpcCode code) : Error(ErrorKind::System, what), code_(code) {}
  GrpcCode code() const { return code_; }

 private:
  GrpcCode code_;
};

// The end of the key range holding every key that starts with `prefix` (etcd's convention).
std::string prefix_end(const std::string& prefix);

class Etcd {
 public:
  // `endpoints`: base URLs ("http://10.0.0.1:2379"), tried in order until one answers.
  // `timeout_ms` bounds each request (connect and transfer).
  explicit Etcd(std::vector<std::string> endpoints, long timeout_ms = 3000);
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;
  Etcd(Etcd&& o) noexcept : endpoints_(std::move(o.endpoints_)), timeout_ms_(o.timeout_ms_), curl_(o.curl_), preferred_(o.preferred_) {
    o.curl_ = nullptr;
  }

  std::optional<EtcdKv> get(const std::string& key);
  EtcdRange range(const std::string& prefix, bool keys_only = false);
  void put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Creates `key` only if it does not exist (compare create_revision == 0): the building block
  // of every allocation. Returns false when it already existed.
  bool create(const std::string& key, const std::string& value, int64_t lease = 0);
  void remove(const std::string& key);
  // Deletes `key` only while it still holds `value` (so a release never takes someone else's
  // allocation of the same key). Returns whether it deleted.
  bool remove_if(const std::string& key, const std::string& value);
  // A transaction: `ops` run only when every compare holds. Compares and ops are the gateway's
  // JSON objects with plain-text keys; use the helpers below to build them.
  bool txn(const std::vector<nlohmann::json>& compares, const std::vector<nlohmann::json>& ops);
  static nlohmann::json cmp_absent(const std::string& key);                    // create_revision == 0
  static nlohmann::json cmp_mod_revision(const std::string& key, int64_t rev);  // mod_revision == rev
  static nlohmann::json cmp_value(const std::string& key, const std::string& value);
  static nlohmann::json op_put(const std::string& key, const std::string& value, int64_t lease = 0);
  static nlohmann::json op_delete(const std::string& key);
  int64_t lease_grant(int64_t ttl_seconds);
  // Remaining TTL; 0 when the lease is gone (expired or revoked).
  int64_t lease_keepalive(int64_t id);
  void lease_revoke(int64_t id);

  // Streams events under `prefix` from `start_revision` until `on_events` returns false, the
  // stream ends, or `keep_going` returns false (polled by libcurl's progress callback, about once
  // a second while the stream is idle). Throws on a connection failure, a watch error or the end
  // of the stream; returns normally when stopped. `compacted` is set when etcd refused the
  // start revision because it was compacted (the caller must resync).
  void watch(const std::string& prefix, int64_t start_revision,
             const std::function<bool(const std::vector<EtcdEvent>&, int64_t revision)>& on_events,
             const std::function<bool()>& keep_going, bool& compacted);

  // The raw request: POST `path` with `body`, returns the parsed answer. Throws System (exit 2)
  // naming the endpoint when none answers, or EtcdError with the gateway's error message and
  // code when etcd refused the request.
  nlohmann::json call(const std::string& path, const nlohmann::json& body);

  const std::vector<std::string>& endpoints() const { return endpoints_; }

 private:
  std::vector<std::string> endpoints_;
  long timeout_ms_;
  void* curl_ = nullptr;  // CURL*, reused across calls (keeps the connection open)
  size_t preferred_ = 0;  // endpoint that answered last
};

}  // namespace ocinet
