// wake_batch.hpp: wakes many blocked goroutines at once.
//
// Closing a channel, cancelling a context or releasing a wait_group can make thousands of
// goroutines runnable in one call. Readied one at a time, each would take a run-queue lock and
// look for an idle worker to wake. While a wake_batch lives on this thread, the runtime instead
// collects the goroutines this thread makes runnable, and when the outermost batch ends (or its
// buffer fills) queues them with one lock and wakes one idle worker; a woken worker that finds
// work wakes the next, as Go's injectglist and spinning machines do.
//
// Guarantees: every goroutine readied inside the batch is queued before the destructor returns,
// so a wake-up is deferred, never lost. A single goroutine readied alone keeps the ordinary
// path (a goroutine waking one partner hands it its worker next, as an unbatched wake does).
// Plain threads woken inside the batch are woken at once, as without it.
//
// Use: only across code that cannot park or switch goroutines (the batch belongs to the thread,
// not to the goroutine), typically the loop that finishes waiters taken off a queue.
#pragma once

namespace csp::detail {

class wake_batch {
 public:
  wake_batch() noexcept;
  ~wake_batch();
  wake_batch(const wake_batch&) = delete;
  wake_batch& operator=(const wake_batch&) = delete;
};

}  // namespace csp::detail
