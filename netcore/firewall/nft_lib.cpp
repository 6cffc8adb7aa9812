#include "netcore/firewall/nft_lib.h"

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "netcore/dynlib.h"

namespace ocinet::nft {

struct NftApi {
  decltype(&nft_ctx_new) ctx_new;
  decltype(&nft_ctx_free) ctx_free;
  decltype(&nft_ctx_buffer_output) buffer_output;
  decltype(&nft_ctx_buffer_error) buffer_error;
  decltype(&nft_ctx_get_output_buffer) output_buffer;
  decltype(&nft_ctx_get_error_buffer) error_buffer;
  decltype(&nft_ctx_output_set_flags) set_output_flags;
  decltype(&nft_run_cmd_from_buffer) run;
};

namespace {

NftApi load_nft_api() {
  DynLib lib("libnftables.so.1", "firewall: loading libnftables");
  NftApi api{};
  lib.sym(api.ctx_new, "nft_ctx_new");
  lib.sym(api.ctx_free, "nft_ctx_free");
  lib.sym(api.buffer_output, "nft_ctx_buffer_output");
  lib.sym(api.buffer_error, "nft_ctx_buffer_error");
  lib.sym(api.output_buffer, "nft_ctx_get_output_buffer");
  lib.sym(api.error_buffer, "nft_ctx_get_error_buffer");
  lib.sym(api.set_output_flags, "nft_ctx_output_set_flags");
  lib.sym(api.run, "nft_run_cmd_from_buffer");
  return api;
}

const NftApi& nft_api() {
  static const NftApi api = load_nft_api();  // a throw leaves it unset: the next call retries
  return api;
}

// libnftables hands out no errno: it reports the kernel's refusals only as strerror() text in
// its messages ("Could not process rule: File exists"), so this is the one place that reads it.
std::vector<int> kernel_errnos(const std::string& error) {
  std::vector<int> out;
  for (int err : {ENOENT, EEXIST, EBUSY})
    if (error.find(std::strerror(err)) != std::string::npos) out.push_back(err);
  return out;
}

}  // namespace

std::string NftResult::why() const {
  std::string line = error.substr(0, error.find('\n'));
  auto at = line.find("Error: ");
  if (at != std::string::npos) line.erase(0, at + 7);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
  return line.empty() ? "libnftables failed without a message" : line;
}

NftContext::NftContext() : api_(nft_api()), ctx_(nullptr, Free{api_.ctx_free}) {
  ctx_.reset(api_.ctx_new(NFT_CTX_DEFAULT));
  if (!ctx_) fail_system("firewall: creating the libnftables context", errno);
  // Captured, never printed: the library must not write to the hook's stdout (precreate) or
  // stderr (one error line, printed by main). Only its "(you must be root)" hint for EPERM
  // bypasses the buffer, and the hook runs as root.
  if (api_.buffer_output(ctx_.get()) != 0 || api_.buffer_error(ctx_.get()) != 0)
    fail_system("firewall: buffering libnftables output", 0);
}

NftResult NftContext::run(const std::string& commands, bool json) {
  api_.set_output_flags(ctx_.get(), NFT_CTX_OUTPUT_NUMERIC_ALL | (json ? NFT_CTX_OUTPUT_JSON : 0));
  NftResult r;
  r.ok = api_.run(ctx_.get(), commands.c_str()) == 0;
  // Reading a buffer also empties it for the next run.
  const char* out = api_.output_buffer(ctx_.get());
  const char* err = api_.error_buffer(ctx_.get());
  r.output = out ? out : "";
  r.error = err ? err : "";
  if (!r.ok) r.errnos = kernel_errnos(r.error);
  return r;
}

// The message is nft's own, which already says the reason: the errno goes along unprinted.
void nft_fail(const std::string& what, const NftResult& r) {
  throw Error(ErrorKind::System, "firewall: " + what + ": " + r.why(), r.errnos.empty() ? 0 : r.errnos.front());
}

}  // namespace ocinet::nft
