// Helpers for unit tests: a temporary directory removed at scope exit.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ocinet-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// A whole file as text ("" when it cannot be read), and a file written with `text`.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline void spit(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Runs `f` and returns the exit code its ocinet::Error carries (0 when nothing was thrown).
#define ERROR_KIND(expr) ([&]() -> int { try { expr; } catch (const ocinet::Error& e) { return e.exit_code(); } return 0; }())
