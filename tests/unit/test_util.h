// Helpers for unit tests: a temporary directory removed at scope exit.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <string>

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ocinet-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Runs `f` and returns the exit code its ocinet::Error carries (0 when nothing was thrown).
#define ERROR_KIND(expr) ([&]() -> int { try { expr; } catch (const ocinet::Error& e) { return e.exit_code(); } return 0; }())
