// mutex.cpp: the contended paths of csp/mutex.hpp.
//
// state_: bit 0 `locked`, bit 1 `has_waiters` (the queue may be non-empty). A contender sets
// has_waiters under queue_lock_ before it queues, so the owner's lock-free unlock (which only
// succeeds from exactly `locked`) fails and comes here, where it finds the contender queued.
// Ownership passes directly to the oldest waiter: state_ keeps `locked` throughout, so no
// newcomer can take the lock in between.
#include "csp/mutex.hpp"

#include "csp/context.hpp"

namespace csp {

bool mutex::lock(const context& ctx) {
  if (detail::context_access::ended(ctx)) return false;
  if (try_lock()) return true;
  return lock_contended(&ctx);
}

bool mutex::lock_contended(const context* ctx) {
  detail::waiter self;
  detail::operation op{&self};
  {
    detail::lock_guard guard(queue_lock_);
    std::uint32_t observed = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((observed & locked) == 0) {
        if (state_.compare_exchange_weak(observed, observed | locked, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return true;
        }
        continue;
      }
      if (state_.compare_exchange_weak(observed, observed | has_waiters, std::memory_order_relaxed,
                                       std::memory_order_relaxed)) {
        break;
      }
    }
    waiters_.push_back(op);
  }
  if (ctx == nullptr) {
    // The unlocker hands over the lock and finishes us; its release publishes its section.
    detail::note_wait({detail::wait_reason::kind::mutex});
    self.wait();
    return true;
  }
  // Two partners may claim `self`: an unlock handing over the lock (case 0) and the end of
  // *ctx (case 1). Only a claim for case 0 transfers ownership.
  bool acquired = false;
  {
    detail::done_subscription end(*ctx, self, 1);
    if (!end.refused() || !self.try_abort()) {
      detail::note_wait({detail::wait_reason::kind::mutex});
      const detail::waiter::result result = self.wait();
      acquired = result.final_phase() == detail::waiter::phase::done && result.case_index() == 0;
    }
  }
  if (!acquired) {
    detail::lock_guard guard(queue_lock_);
    if (op.linked) waiters_.remove(op);
    // Nobody left to hand the lock to: let the owner's unlock take the fast path again.
    if (waiters_.empty()) state_.fetch_and(~has_waiters, std::memory_order_relaxed);
  }
  return acquired;
}

void mutex::unlock_contended() {
  detail::operation* next = nullptr;
  {
    detail::lock_guard guard(queue_lock_);
    next = waiters_.claim_first(nullptr);
    if (next == nullptr) {
      state_.store(0, std::memory_order_release);
    } else if (waiters_.empty()) {
      state_.store(locked, std::memory_order_release);  // still locked, now by `next`
    }
  }
  if (next != nullptr) next->owner->finish(detail::waiter::outcome::success);
}

}  // namespace csp
