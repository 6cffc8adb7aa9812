// The bridge driver's pure parts: what a kernel refusal means to the user.
#include <catch2/catch.hpp>

#include <cerrno>

#include "base/error.h"
#include "netcore/netlink.h"

using namespace ocinet;

namespace {
// The error create_veth throws when the kernel answers its request with `err`.
Error veth_failure(int err) {
  try {
    fail_system("creating veth oc0123456789ab0", err);
  } catch (const Error& e) {
    return e;
  }
  return Error(ErrorKind::System, "");
}
}  // namespace

TEST_CASE("a bridge's 1024th port: the kernel's EXFULL becomes the limit and the network, exit 1") {
  // Once the bare "creating veth ...: Exchange full".
  Error full = veth_error(veth_failure(EXFULL), "unet", "ocbr-0123456789");
  CHECK(full.exit_code() == 1);
  CHECK_THAT(full.what(), Catch::Contains("network \"unet\"") && Catch::Contains("ocbr-0123456789") &&
                              Catch::Contains("a Linux bridge holds at most 1023 ports"));
  CHECK_THAT(full.what(), !Catch::Contains("Exchange full"));
  // Anything else is passed on as it came.
  Error other = veth_error(veth_failure(ENOMEM), "unet", "ocbr-0123456789");
  CHECK(other.exit_code() == 2);
  CHECK(std::string(other.what()) == veth_failure(ENOMEM).what());
  CHECK(other.sys_errno() == ENOMEM);
}
