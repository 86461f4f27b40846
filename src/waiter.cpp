// waiter.cpp: deadlines for parkers that have none of their own (goroutines).
#include "csp/detail/waiter.hpp"

#include <chrono>

#include "csp/detail/timer_service.hpp"

namespace csp::detail {
namespace {

// A timer-service node on the waiting party's stack; cancelled before the frame goes.
class deadline_node final : public timer_node {
 public:
  explicit deadline_node(waiter& target) noexcept : target_(target) {}
  steady_time fire(steady_time) override {
    target_.abort_at_deadline();
    return no_deadline;
  }

 private:
  waiter& target_;
};

}  // namespace

waiter::result waiter::wait_with_timer(steady_time deadline) {
  if (std::chrono::steady_clock::now() >= deadline && try_abort()) {
    return result();
  }
  deadline_node node(*this);
  auto& service = timer_service::instance();
  service.locked([&] { service.schedule_locked(node, deadline); });
  const result finished = wait(no_deadline);
  // After this, the node cannot fire: fire() runs under the same lock.
  service.locked([&] { service.cancel_locked(node); });
  return finished;
}

}  // namespace csp::detail
