#include "netcore/dynlib.h"

#include <dlfcn.h>

#include "base/error.h"

namespace ocinet {

DynLib::DynLib(const char* soname, std::string what) : soname_(soname) {
  lib_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib_) {
    const char* why = ::dlerror();
    fail_system(what + ": " + (why ? why : "unknown error"), 0);
  }
}

void* DynLib::raw_sym(const char* name) const {
  // A definition in the program's own scope comes first, as the link editor would have bound
  // it had the library been linked (a test interposes libiptc's commit this way).
  void* p = ::dlsym(RTLD_DEFAULT, name);
  if (!p) p = ::dlsym(lib_, name);
  if (!p) fail_system(std::string(soname_) + " lacks " + name, 0);
  return p;
}

}  // namespace ocinet
