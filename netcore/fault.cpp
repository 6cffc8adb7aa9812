#include "netcore/fault.h"

#ifdef OCINET_TESTING
#include <cstdlib>
#include <string>

#include "base/error.h"

namespace ocinet {

void fault_point(const char* step) {
  static int count = 0;
  static const int fail_at = [] {
    const char* v = std::getenv("OCINET_FAIL_STEP");
    return v ? std::atoi(v) : 0;
  }();
  if (++count == fail_at) fail_system("injected fault at step " + std::to_string(count) + " (" + step + ")", 0);
}

}  // namespace ocinet
#endif
