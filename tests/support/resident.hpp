// resident.hpp: this process's resident memory, for tests that check memory comes back.
#pragma once

#include <unistd.h>

#include <fstream>

namespace csp_test {

// The resident set in KiB (from /proc/self/statm), or -1 when it cannot be read.
inline long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return -1;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace csp_test
