// error_group.cpp: csp/error_group.hpp, after golang.org/x/sync/errgroup/errgroup.go.
//
// Invariants: exception_ is written at most once (the first failure), under lock_; the number
// of tokens in slots_ is the number of tasks started under the current limit that have not yet
// given their slot back; slots_ is replaced only while it holds no token.
#include "csp/error_group.hpp"

#include <string>

#include "csp/panic_error.hpp"

namespace csp {

std::string error_group::failure::message() const {
  if (exception_ == nullptr) return {};
  try {
    std::rethrow_exception(exception_);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception";
  }
}

error_group::error_group() : state_(std::make_shared<detail::error_group_state>()) {}

std::pair<error_group, context> error_group::with_context(const context& parent) {
  auto [ctx, cancel] = with_cancel_cause(parent);
  error_group group;
  group.state_->cancel = std::move(cancel);
  return {std::move(group), std::move(ctx)};
}

void error_group::set_limit(std::ptrdiff_t limit) { state_->set_limit(limit); }

void error_group::wait() {
  const failure first = wait_error();
  if (first) first.rethrow();
}

error_group::failure error_group::wait_error() {
  state_->tasks.wait();
  failure first = state_->first_failure();
  // Go's Wait: cancel(g.err) — the context ends now if no failure ended it before.
  state_->cancel(first.exception());
  return first;
}

namespace detail {

void error_group_state::fail(std::exception_ptr exception, std::error_code code) {
  {
    lock_guard guard(lock_);
    if (exception_ != nullptr) return;  // the first failure wins; later ones are dropped
    exception_ = exception;
    code_ = code;
  }
  cancel(std::move(exception));
}

error_group::failure error_group_state::first_failure() {
  lock_guard guard(lock_);
  return error_group::failure(exception_, code_);
}

channel<std::monostate> error_group_state::slots() {
  lock_guard guard(lock_);
  return slots_;
}

void error_group_state::set_limit(std::ptrdiff_t limit) {
  lock_guard guard(lock_);
  if (limit < 0) {
    slots_ = channel<std::monostate>(nullptr);
    return;
  }
  if (const std::size_t active = slots_.size(); active != 0) {
    throw panic_error("errgroup: modify limit while " + std::to_string(active) +
                      " goroutines in the group are still active");
  }
  slots_ = channel<std::monostate>(limit);
}

}  // namespace detail
}  // namespace csp
