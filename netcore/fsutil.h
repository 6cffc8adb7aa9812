// Small filesystem helpers for the state directories (run dir, lib dir): locks, atomic writes.
// Hand-written because they are a few syscalls each and must control flags exactly
// (O_CLOEXEC, O_NOFOLLOW, O_EXCL) — no library in the stack offers them.
#pragma once
#include <optional>
#include <string>

namespace ocinet {

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// An exclusive flock on a lock file, released when destroyed. Creates parent directories.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  // Non-blocking: nullopt when someone else holds it.
  static std::optional<FileLock> try_lock(const std::string& path);

 private:
  FileLock() = default;
  UniqueFd fd_;
};

void make_dirs(const std::string& path, int mode = 0700);
// Whole file, or nullopt when it does not exist. Throws System on other errors.
std::optional<std::string> read_file(const std::string& path);
// A regular file of at most `limit` bytes (symlinks followed), read without opening anything
// else: the name is opened with O_PATH and checked first, so a FIFO is never opened (no hang)
// nor a device (no endless /dev/zero), and the inode checked is the one read. nullopt when it
// does not exist. Invalid "<path> is not a regular file" / "<path> is larger than <limit>",
// checked before reading and while reading (a /proc file says size 0); System when unreadable.
std::optional<std::string> read_regular_file(const std::string& path, size_t limit);
// tmp file in the same directory + rename. `durable` adds fsync of file and directory (lib dir).
void write_file_atomic(const std::string& path, const std::string& content, bool durable = false);
// Ownership marks (leases, published ports, names): a symlink whose target is the owner's id.
// symlink(2) creates name and content in one atomic step and fails if the name exists, so a
// hook killed at any instant leaves either no mark or a complete one, never an empty file.
// create_owner_mark: false when the mark already exists. Creates parent directories.
bool create_owner_mark(const std::string& path, const std::string& owner);
// Replaces the mark whatever it held (symlink to a temp name + rename).
void replace_owner_mark(const std::string& path, const std::string& owner);
// The owner, or nullopt when there is no mark.
std::optional<std::string> read_owner_mark(const std::string& path);
// unlink; a missing file is success.
void remove_file(const std::string& path);
// Removes every ownership mark below `dir` (recursively) that names `owner`: for when no record
// says which marks those are.
void remove_owned_files(const std::string& dir, const std::string& owner);
// Removes "<name>.tmp.<pid>" files below `dir` whose writer is dead: the remains of a process
// killed between writing a temp file and renaming it.
void remove_stale_temps(const std::string& dir);

}  // namespace ocinet
