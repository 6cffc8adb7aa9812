// The endpoint record's write-ahead log: what may exist of an endpoint, in the order it was
// made. Stored as the strings earlier releases wrote ("lease:0", "veth:1", ...), so their
// records still load and tear down.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace ocinet {

// In the order setup makes them (add_step keeps a log in this order).
enum class StepKind {
  name,      // RUN/names/<name>
  lease,     // the attachment's addresses (per attachment)
  ports,     // host ports in the port table
  link,      // the attachment's interface and host end (per attachment; stored "veth")
  announce,  // the endpoint registered with other hosts (per attachment; stored "endpoint")
  firewall,  // the endpoint's rules, every attachment's
  peers,     // lines in peers' /etc/hosts (records of releases before the name server)
  files,     // ocinet's blocks in the container's files, until the endpoint is ready
};

struct Step {
  StepKind kind;
  size_t index = 0;  // the attachment, for per-attachment kinds
  bool operator==(const Step& o) const { return kind == o.kind && index == o.index; }
};

bool per_attachment(StepKind k);
// Whether undoing it frees something another container may take at once (an address, a port,
// a name): the record must forget the steps after it first (see Checkpoint in undo.h).
bool frees_shared(StepKind k);
std::string to_string(const Step& s);
// The step a stored string names; throws std::invalid_argument for one no release wrote.
Step parse_step(const std::string& s);

using StepLog = std::vector<Step>;
bool has_step(const StepLog& log, const Step& s);
void add_step(StepLog& log, const Step& s);  // once, in setup's order
void drop_step(StepLog& log, const Step& s);
// The steps of attachment `index`, in log order.
StepLog steps_of(const StepLog& log, size_t index);
// The log once attachment `index` is gone: its steps dropped, later attachments renumbered.
StepLog without_attachment(const StepLog& log, size_t index);

}  // namespace ocinet
