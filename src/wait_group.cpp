// wait_group.cpp: see csp/wait_group.hpp.
#include "csp/wait_group.hpp"

#include "csp/context.hpp"
#include "csp/detail/channel/core.hpp"
#include "csp/detail/wake_batch.hpp"

namespace csp {

void wait_group::add(std::int64_t delta) {
  detail::wait_queue released;
  {
    detail::lock_guard guard(lock_);
    if (count_ + delta < 0) detail::throw_panic("sync: negative WaitGroup counter");
    count_ += delta;
    if (count_ != 0) return;
    while (detail::operation* op = waiters_.claim_first(nullptr)) released.push_back(*op);
  }
  // Wake outside the lock; unlink first, as the owner may return the moment it is finished.
  detail::wake_batch batch;
  while (detail::operation* op = released.front()) {
    released.remove(*op);
    op->owner->finish(detail::waiter::outcome::success);
  }
}

void wait_group::wait() {
  detail::waiter self;
  detail::operation op{&self};
  {
    detail::lock_guard guard(lock_);
    if (count_ == 0) return;
    waiters_.push_back(op);
  }
  detail::note_wait({detail::wait_reason::kind::wait_group});
  self.wait();
}

bool wait_group::wait(const context& ctx) {
  if (detail::context_access::ended(ctx)) return false;
  detail::waiter self;
  detail::operation op{&self};
  {
    detail::lock_guard guard(lock_);
    if (count_ == 0) return true;
    waiters_.push_back(op);
  }
  // Two partners may claim `self`: add() reaching zero (case 0) and the end of ctx (case 1).
  bool released = false;
  {
    detail::done_subscription end(ctx, self, 1);
    if (!end.refused() || !self.try_abort()) {
      detail::note_wait({detail::wait_reason::kind::wait_group});
      const detail::waiter::result result = self.wait();
      released = result.final_phase() == detail::waiter::phase::done && result.case_index() == 0;
    }
  }
  if (!released) {
    detail::lock_guard guard(lock_);
    if (op.linked) waiters_.remove(op);
  }
  return released;
}

std::int64_t wait_group::count() const {
  detail::lock_guard guard(lock_);
  return count_;
}

}  // namespace csp
