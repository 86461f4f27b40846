// wait_group.hpp: a counter that parties wait on until it reaches zero (Go's sync.WaitGroup).
//
//   csp::wait_group wg;
//   for (int i = 0; i < 3; ++i) wg.go([=] { work(i); });   // Go 1.25's WaitGroup.Go
//   wg.wait();
//
// Requirements: an add() with a positive delta while the count is zero happens before wait();
//   the count never goes negative — add()/done() that would make it negative throw
//   panic_error("sync: negative WaitGroup counter") and leave the count unchanged.
// Guarantees: wait() returns once the count is zero (at once if it is zero); every party
//   blocked in wait() is released when it reaches zero. wait() parks a goroutine and blocks a
//   plain thread; both may wait on one wait_group. wait(ctx) also gives up when the context
//   ends (false; see csp/context.hpp), leaving nothing behind.
// Memory ordering: everything a party does before done() happens before the return of any
//   wait() it releases (MM-8); for go(f), the return of f happens before it.
// Lifetime: the wait_group must outlive its waiters and every add()/done(); it may be destroyed
//   as soon as the last wait() returned. Not copyable or movable (Go: must not be copied).
// A function started by go() that throws ends the process (as any goroutine's exception does)
//   without calling done(), so wait() never reports a success that did not happen (Go #76126).
#pragma once

#include <cstdint>
#include <utility>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/waiter.hpp"
#include "csp/go.hpp"

namespace csp {

class context;  // csp/context.hpp

class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // Adds `delta`, which may be negative, to the count.
  void add(std::int64_t delta);
  // Decrements the count by one.
  void done() { add(-1); }
  // Blocks until the count is zero.
  void wait();
  // Blocks until the count is zero or `ctx` ends; true if the count reached zero. False at once
  // if ctx has already ended.
  [[nodiscard]] bool wait(const context& ctx);
  // Adds one, runs `f` in a new goroutine and calls done() when it returns. Diagnostics show
  // the goroutine as spawned where wg.go() was called.
  template <class F>
  void go(F&& f, spawn_site site = spawn_site::here()) {
    add(1);
    csp::go(go_options{{}, 0, site}, [this, function = std::forward<F>(f)]() mutable {
      function();
      done();
    });
  }

  // The current count; for diagnostics.
  std::int64_t count() const;

 private:
  mutable detail::adaptive_mutex lock_;
  std::int64_t count_ CSP_GUARDED_BY(lock_) = 0;
  detail::wait_queue waiters_ CSP_GUARDED_BY(lock_);
};

}  // namespace csp
