// timer_service.hpp: the process's one timer service.
//
// One thread sleeps until the earliest pending deadline and fires what is due; with nothing
// pending it sleeps without a timeout, so an idle process burns no CPU. Pending timers live in
// one binary min-heap of pointers to intrusive nodes: memory is 8 bytes of heap per pending
// timer plus the node, which lives inside its owner (a timer channel), and schedule / cancel
// cost O(log n).
//
// Contract for a node: fire() runs on the service thread with the service lock held, so it
// must be short and must not block or call back into the service except through the
// `_locked` functions. Holding the lock there is what lets stop() and reset() be exact: a
// node is either still pending (and cancel() removes it) or has fired completely.
// Lifetime: a node must be cancelled (cancel() returns either way) before it is destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>

#include "csp/detail/futex.hpp"

namespace csp::detail {

class timer_node {
 public:
  // Called when the node's deadline passes; returns the next deadline for a periodic node,
  // or no_deadline to leave the heap.
  virtual steady_time fire(steady_time now) = 0;

 protected:
  timer_node() = default;
  timer_node(const timer_node&) = delete;
  timer_node& operator=(const timer_node&) = delete;
  ~timer_node() = default;

 private:
  friend class timer_service;
  steady_time when_{};
  std::size_t heap_index_ = not_queued;
  static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);
};

class timer_service {
 public:
  // Returns the service, starting its thread on first use.
  static timer_service& instance();

  // Runs `f` with the service lock held, so that it is ordered against fire() calls.
  template <class F>
  decltype(auto) locked(F&& f) {
    std::lock_guard guard(mutex_);
    return f();
  }

  // Schedules `node` at `when`, replacing any earlier schedule. Lock held.
  void schedule_locked(timer_node& node, steady_time when);
  // Removes `node` if pending; true if it was. Lock held.
  bool cancel_locked(timer_node& node);
  // Returns whether `node` is pending. Lock held.
  static bool pending_locked(const timer_node& node) noexcept {
    return node.heap_index_ != timer_node::not_queued;
  }

  // The number of pending timers; for tests and diagnostics.
  std::size_t pending_count();

 private:
  timer_service();
  void run();
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);
  void swap_nodes(std::size_t a, std::size_t b);

  struct state;
  std::mutex mutex_;
  state* state_;
};

}  // namespace csp::detail
