// Fault injection for tests. In the testing build (OCINET_TESTING, binary ocinet-hook-testing)
// every kernel- or state-changing step calls fault_point() first, and the step whose number
// equals $OCINET_FAIL_STEP fails as a system error; tests walk that number over a whole setup
// and check that each failure leaves nothing behind. In the production build it is a no-op.
#pragma once

namespace ocinet {

#ifdef OCINET_TESTING
void fault_point(const char* step);
#else
inline void fault_point(const char*) {}
#endif

}  // namespace ocinet
