// libnftables, opened on first use rather than linked (netcore/dynlib.h says why): one context
// that runs nft commands and hands back what they printed.
#pragma once
#include <nftables/libnftables.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace ocinet::nft {

struct NftApi;

// What one nft_run_cmd_from_buffer call (one transaction) said.
struct NftResult {
  bool ok = false;
  std::string output;
  std::string error;
  std::vector<int> errnos;  // the kernel's reasons for refusing it, among those callers test

  bool failed_with(int err) const { return !ok && std::find(errnos.begin(), errnos.end(), err) != errnos.end(); }
  // The first line, without nft's "<input>:1:2-3: Error: " prefix; the lines after it repeat
  // the command and underline it.
  std::string why() const;
};

class NftContext {
 public:
  NftContext();
  // Numbers for protocols and ports: listings are parsed back, and no name service is asked.
  NftResult run(const std::string& commands, bool json = false);

 private:
  struct Free {
    decltype(&nft_ctx_free) free;
    void operator()(nft_ctx* c) const { free(c); }
  };
  const NftApi& api_;
  std::unique_ptr<nft_ctx, Free> ctx_;
};

// Throws the failure as a system error, with the kernel's errno when there is one.
[[noreturn]] void nft_fail(const std::string& what, const NftResult& r);

}  // namespace ocinet::nft
