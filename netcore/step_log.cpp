#include "netcore/step_log.h"

#include <algorithm>
#include <stdexcept>

namespace ocinet {
namespace {

struct KindName {
  StepKind kind;
  const char* name;
};
// "veth" and "endpoint" are what the first releases called the link and announce steps.
constexpr KindName kNames[] = {{StepKind::name, "name"},         {StepKind::lease, "lease"},
                               {StepKind::ports, "ports"},       {StepKind::link, "veth"},
                               {StepKind::announce, "endpoint"}, {StepKind::firewall, "firewall"},
                               {StepKind::peers, "peers"},       {StepKind::files, "files"}};

}  // namespace

bool per_attachment(StepKind k) { return k == StepKind::lease || k == StepKind::link || k == StepKind::announce; }

bool frees_shared(StepKind k) { return k == StepKind::ports || k == StepKind::lease || k == StepKind::name; }

std::string to_string(const Step& s) {
  for (const auto& n : kNames)
    if (n.kind == s.kind) return per_attachment(s.kind) ? std::string(n.name) + ":" + std::to_string(s.index) : n.name;
  throw std::invalid_argument("step kind");
}

Step parse_step(const std::string& s) {
  const auto colon = s.find(':');
  const std::string kind = s.substr(0, colon);
  for (const auto& n : kNames) {
    if (kind != n.name) continue;
    if (!per_attachment(n.kind)) {
      if (colon != std::string::npos) break;
      return {n.kind, 0};
    }
    const std::string digits = colon == std::string::npos ? "" : s.substr(colon + 1);
    if (digits.empty() || digits.size() > 3 || digits.find_first_not_of("0123456789") != std::string::npos) break;
    return {n.kind, std::stoul(digits)};
  }
  throw std::invalid_argument("unknown step \"" + s + "\"");
}

bool has_step(const StepLog& log, const Step& s) { return std::find(log.begin(), log.end(), s) != log.end(); }

void add_step(StepLog& log, const Step& s) {
  if (has_step(log, s)) return;
  // In setup's order (the kinds' order, then the attachment), whenever it is added: undo runs
  // backwards, and frees addresses, ports and names only after what uses them is gone.
  auto before = [](const Step& a, const Step& b) { return a.kind != b.kind ? a.kind < b.kind : a.index < b.index; };
  log.insert(std::upper_bound(log.begin(), log.end(), s, before), s);
}

void drop_step(StepLog& log, const Step& s) { log.erase(std::remove(log.begin(), log.end(), s), log.end()); }

StepLog steps_of(const StepLog& log, size_t index) {
  StepLog out;
  for (const auto& s : log)
    if (per_attachment(s.kind) && s.index == index) out.push_back(s);
  return out;
}

StepLog without_attachment(const StepLog& log, size_t index) {
  StepLog out;
  for (Step s : log) {
    if (per_attachment(s.kind) && s.index == index) continue;
    if (per_attachment(s.kind) && s.index > index) s.index--;
    out.push_back(s);
  }
  return out;
}

}  // namespace ocinet
