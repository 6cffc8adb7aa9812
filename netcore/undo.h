// The one undo: rollback of a failed setup or connect, teardown, gc, disconnect, and teardown
// without a record all replay step logs backwards through here.
#pragma once
#include <functional>
#include <string>

#include "config/admin_config.h"
#include "netcore/endpoint_record.h"
#include "netcore/paths.h"
#include "netcore/step_log.h"

namespace ocinet {

// Called by undo with the steps still to undo, before it frees the first address, port or name;
// it stores them as the record's steps, so a run killed later resumes there and never undoes
// again what another container may have taken meanwhile.
using Checkpoint = std::function<void(const StepLog& steps_left)>;
// A checkpoint that saves `rec` (which must outlive it) with those steps.
Checkpoint save_steps(const RecordStore& records, const EndpointRecord& rec);

// Undoes `steps` (of `rec`'s log, indexes into rec.attachments) in reverse order. Every step is
// tried and tolerates one that never ran; the failures are thrown at the end, all in one Error.
void undo(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec, const StepLog& steps,
          const Checkpoint& checkpoint = nullptr);
inline void undo_record(const Paths& paths, const AdminConfig& cfg, const EndpointRecord& rec,
                        const Checkpoint& checkpoint = nullptr) {
  undo(paths, cfg, rec, rec.steps, checkpoint);
}

// What may exist of container `id` when its record is lost (or never was): the names derived
// from the id (host veths), and owner marks and firewall tags found by scanning.
EndpointRecord derived_record(const std::string& id);

}  // namespace ocinet
