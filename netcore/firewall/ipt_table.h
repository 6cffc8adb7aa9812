// x_tables through libiptc: the lock iptables itself takes, and one table's snapshot, read,
// edited in memory and committed whole; ocinet finds its rules in it by their comment.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "netcore/firewall/ipt_rule.h"

namespace ocinet::ipt {

class XtablesLock {
 public:
  XtablesLock();
  ~XtablesLock() { close(fd_); }  // closing the descriptor releases the flock
  XtablesLock(const XtablesLock&) = delete;
  XtablesLock& operator=(const XtablesLock&) = delete;

 private:
  int fd_ = -1;
};

// The comment of a rule, or "" when it has none.
template <class Entry>
std::string_view rule_comment(const Entry* e) {
  for (size_t off = sizeof(Entry); off + sizeof(xt_entry_match) <= e->target_offset;) {
    auto* m = reinterpret_cast<const xt_entry_match*>(reinterpret_cast<const unsigned char*>(e) + off);
    if (m->u.match_size < sizeof(xt_entry_match)) break;  // malformed: stop rather than loop
    if (std::strcmp(m->u.user.name, "comment") == 0) {
      auto* info = reinterpret_cast<const xt_comment_info*>(m->data);
      return std::string_view(info->comment, strnlen(info->comment, sizeof info->comment));
    }
    off += m->u.match_size;
  }
  return {};
}

// The message names libiptc's reason, which already says what errno does: it goes along unprinted.
template <class F>
[[noreturn]] void iptc_fail(const std::string& what, int err) {
  throw Error(ErrorKind::System, "firewall: " + what + ": " + F::lib().strerror(err), err);
}

// Whether the kernel has instantiated `table` of this family in the current netns. x_tables
// creates a table in a netns the first time anyone opens it: ocinet's removals look here first
// so that an IPv4-only host does not grow empty IPv6 tables.
template <class F>
bool table_instantiated(const char* table) {
  int fd = open(F::kTableNames, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no x_tables for this family: nothing of ocinet's there
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  for (const char* line = buf; *line;) {
    const char* end = std::strchr(line, '\n');
    size_t len = end ? size_t(end - line) : std::strlen(line);
    if (len == std::strlen(table) && std::strncmp(line, table, len) == 0) return true;
    if (!end) break;
    line = end + 1;
  }
  return false;
}

// One table's snapshot. Edits stay in memory until commit(); dropping the object without a
// commit discards them, which is how a failed add_endpoint leaves the kernel untouched.
template <class F>
class Table {
 public:
  // With missing_ok, a table (or x_tables itself) the kernel does not have yields an empty
  // Table instead of an error: there is nothing to remove from it. For IPv6, missing_ok also
  // leaves a table that nobody has instantiated in this netns alone.
  explicit Table(const char* name, bool missing_ok = false) : name_(name) {
    if (F::kV6 && missing_ok && !table_instantiated<F>(name)) return;
    h_.reset(F::lib().init(name));
    if (!h_) {
      int err = errno;
      if (missing_ok && (err == ENOENT || err == ENOPROTOOPT || err == EAFNOSUPPORT)) return;
      iptc_fail<F>(std::string("reading ") + F::kCommand + " table " + name, err);
    }
  }

  explicit operator bool() const { return h_ != nullptr; }
  xtc_handle* get() const { return h_.get(); }
  const char* name() const { return name_; }
  bool changed() const { return changed_; }

  bool has_chain(const char* chain) const { return F::lib().is_chain(chain, h_.get()); }

  void ensure_chain(const char* chain) {
    if (has_chain(chain)) return;
    if (!F::lib().create_chain(chain, h_.get())) iptc_fail<F>(where("creating chain", chain), errno);
    changed_ = true;
  }

  void append(const char* chain, Rule<F>& rule) {
    if (!F::lib().append_entry(chain, rule.entry(), h_.get())) iptc_fail<F>(where("adding rule to", chain), errno);
    changed_ = true;
  }

  void insert_first(const char* chain, Rule<F>& rule) {
    if (!F::lib().insert_entry(chain, rule.entry(), 0, h_.get())) iptc_fail<F>(where("adding rule to", chain), errno);
    changed_ = true;
  }

  // 0-based positions of the rules in `chain` whose comment is exactly `comment`.
  std::vector<unsigned> rules_with_comment(const char* chain, const std::string& comment) const {
    std::vector<unsigned> found;
    if (!h_ || !has_chain(chain)) return found;
    unsigned n = 0;
    for (auto* e = F::lib().first_rule(chain, h_.get()); e; e = F::lib().next_rule(e, h_.get()), ++n)
      if (rule_comment(e) == comment) found.push_back(n);
    return found;
  }

  bool has_rule_with_comment(const char* chain, const std::string& comment) const {
    return !rules_with_comment(chain, comment).empty();
  }

  void delete_rules_with_comment(const char* chain, const std::string& comment) {
    auto found = rules_with_comment(chain, comment);
    // Backwards, so a deletion does not shift the positions still to delete.
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!F::lib().delete_num_entry(chain, *it, h_.get())) iptc_fail<F>(where("deleting rule from", chain), errno);
      changed_ = true;
    }
  }

  // Whether any rule of `from` jumps to `to`, whatever its matches: one jump is enough, and a
  // second one (say, added by hand) is not ours to judge.
  bool jumps_to(const char* from, const char* to) const {
    for (auto* e = F::lib().first_rule(from, h_.get()); e; e = F::lib().next_rule(e, h_.get())) {
      const char* target = F::lib().get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) return true;
    }
    return false;
  }

  size_t rule_count(const char* chain) const {
    size_t n = 0;
    if (!h_ || !has_chain(chain)) return 0;
    for (auto* e = F::lib().first_rule(chain, h_.get()); e; e = F::lib().next_rule(e, h_.get())) n++;
    return n;
  }

  // Deletes the rules of `from` that jump to `to` (ocinet's hooks into the built-in chains).
  void delete_jumps(const char* from, const char* to) {
    std::vector<unsigned> found;
    unsigned n = 0;
    for (auto* e = F::lib().first_rule(from, h_.get()); e; e = F::lib().next_rule(e, h_.get()), ++n) {
      const char* target = F::lib().get_target(e, h_.get());
      if (target && std::strcmp(target, to) == 0) found.push_back(n);
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!F::lib().delete_num_entry(from, *it, h_.get())) iptc_fail<F>(where("deleting jump from", from), errno);
      changed_ = true;
    }
  }

  void delete_chain(const char* chain) {
    if (!has_chain(chain)) return;
    if (!F::lib().flush_entries(chain, h_.get()) || !F::lib().delete_chain(chain, h_.get()))
      iptc_fail<F>(where("deleting chain", chain), errno);
    changed_ = true;
  }

  void commit() {
    if (!changed_) return;
    if (!F::lib().commit(h_.get())) iptc_fail<F>(std::string("committing ") + F::kCommand + " table " + name_, errno);
    changed_ = false;
  }

 private:
  std::string where(const char* what, const char* chain) const {
    return std::string(what) + " " + F::kCommand + " " + name_ + " " + chain;
  }

  struct HandleFree {
    void operator()(xtc_handle* h) const { F::lib().free(h); }
  };
  const char* name_;
  std::unique_ptr<xtc_handle, HandleFree> h_;
  bool changed_ = false;
};

}  // namespace ocinet::ipt
