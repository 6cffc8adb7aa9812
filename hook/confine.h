// The hook confines itself with seccomp right after it starts: an allow-list of the system
// calls it needs (tools/seccomp_gen.cpp). Anything else, execve first of all, raises SIGSYS,
// whose handler prints one line naming the call and exits with status 2.
#pragma once

namespace ocinet {

// Installs the SIGSYS handler, sets no_new_privs and loads the filter. Returns false (with
// errno) when the kernel refuses; the caller treats that as a system failure.
bool confine_hook();

}  // namespace ocinet
