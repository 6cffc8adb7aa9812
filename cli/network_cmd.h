// `ocinet network ...`: definitions in the lib dir, members from the run dir's leases.
#pragma once
#include <CLI/CLI.hpp>

#include "config/options.h"

namespace ocinet {

// Adds the `network` subcommand tree to `app`; the callbacks run with `opts` as parsed.
void add_network_commands(CLI::App& app, GlobalOptions& opts, int& exit_code);

}  // namespace ocinet
