// Where ocinet keeps its state: RUN (run_dir, gone at reboot with the endpoints it describes)
// and LIB (lib_dir, network definitions that outlive reboots), and the lock files under RUN.
#pragma once
#include <string>

namespace ocinet {

struct Paths {
  std::string run_dir, lib_dir;
  std::string alloc_lock() const { return run_dir + "/locks/alloc.lock"; }
  std::string lease_dir(const std::string& network) const { return run_dir + "/ipam/" + network; }
  std::string ports_dir() const { return run_dir + "/ports"; }
  std::string names_dir() const { return run_dir + "/names"; }
  // Held by whoever sets up or tears down that endpoint: `ocinet gc` takes a record whose lock
  // it can get and that is not ready for the remains of a crashed setup.
  std::string endpoint_lock(const std::string& id) const { return run_dir + "/locks/ep-" + id + ".lock"; }
};

}  // namespace ocinet
