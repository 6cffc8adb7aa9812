// Libraries the hook needs on some paths only are opened with dlopen when first used, not
// linked: every exec of the hook maps and relocates each library it links, which costs
// ~0.05–0.1 ms apiece on the reference machine, and ~0.5 ms for libnftables with its
// dependencies. So libnftables (the text fallback of the nftables backend), libip4tc and
// libip6tc (the iptables backend) and libcurl (overlay networks) are loaded here, by the
// loader's search path the hook started with. A library is never closed: the process is
// short-lived and these libraries keep global state.
#pragma once
#include <string>

namespace ocinet {

class DynLib {
 public:
  // `what` starts the error line, e.g. "firewall: loading libnftables"; failures are System.
  DynLib(const char* soname, std::string what);
  // Resolves `name` into `fn` (a pointer of the function's own type, taken with decltype).
  template <class Fn>
  void sym(Fn& fn, const char* name) const {
    fn = reinterpret_cast<Fn>(raw_sym(name));
  }

 private:
  void* raw_sym(const char* name) const;  // throws when the library lacks it
  void* lib_ = nullptr;
  const char* soname_;
};

}  // namespace ocinet
