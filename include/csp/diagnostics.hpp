// diagnostics.hpp: seeing what goroutines do — dumps and leak checks.
//
//   csp::dump_goroutines(std::cerr);   // like Go's SIGQUIT dump, on demand
//   std::cerr << csp::scheduler_trace();   // like Go's GODEBUG=schedtrace, for a hang
//
//   goroutine 7 "reader" [chan receive (int, capacity 0)]:
//   	spawned at src/ingest.cpp:42 in start_readers
//
//   csp::goroutine_leak_check leaks;   // at the start of a test
//   ...
//   EXPECT_EQ(leaks.report(), "");     // at its end: names every goroutine started since
//
// Each goroutine shows its id, its name (go_options::name), what it is doing — running,
// runnable, or what it is blocked on: a channel send or receive (with the element type and
// capacity), a select (with its number of cases), a nil channel, a wait_group, a mutex, a sleep,
// a blocking call — and the file, line and function of the go() call that started it.
//
// Guarantees: safe to call from any thread or goroutine at any time; a goroutine that changes
// state during the dump may show either state. Cost: nothing until called; recording the spawn
// site and the wait reason costs go() three pointer stores and a blocking operation one call on
// its slow path.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace csp {

// Writes every live goroutine to `out`.
void dump_goroutines(std::ostream& out);

// Returns the dump as a string.
std::string goroutine_dump();

// Returns the scheduler's state, as Go's GODEBUG=schedtrace prints it: how many workers are
// idle or searching for work, the global queue's length, and per processor whether it may run,
// its runnext slot and queue length and how many goroutines it has run. For hangs: it takes no
// lock, so it answers even when the runtime is stuck; each figure may be a moment stale.
std::string scheduler_trace();

// Finds goroutines that outlive a scope, such as a test. Construct it at the start; report()
// gives every goroutine started since then that is still alive after a grace period (for
// goroutines that are just finishing), as a dump, or "" when there is none.
class goroutine_leak_check {
 public:
  goroutine_leak_check();
  std::string report(std::chrono::milliseconds grace = std::chrono::seconds(1)) const;

 private:
  // The ids of the goroutines alive at construction, sorted: not ours to report. (Ids are
  // never reused, but workers take them in batches, so "started since" cannot be read off a
  // single id.)
  std::vector<std::uint64_t> before_;
};

}  // namespace csp
