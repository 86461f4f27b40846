// error_group.hpp: goroutines working on parts of one task, where the first failure cancels the
// rest (golang.org/x/sync/errgroup).
//
// Two styles, one group. With exceptions, a task fails by throwing and wait() rethrows:
//
//   auto [g, ctx] = csp::error_group::with_context(parent);
//   for (const auto& url : urls) {
//     g.go([ctx, url] { fetch(ctx, url); });    // fetch throws on failure
//   }
//   g.wait();                                    // rethrows the first failure, if any
//
// With error codes, as Go's `return err`, a task fails by returning a non-empty
// std::error_code, and wait_error() hands back the failure instead of throwing:
//
//   g.go([ctx, path]() -> std::error_code {
//     if (!jobs.send(path, ctx)) return ctx.err();
//     return {};
//   });
//   if (auto failure = g.wait_error()) std::cerr << failure.message() << '\n';
//
// Both styles see every failure: wait() throws a std::system_error for a returned error_code,
// and wait_error() reports a thrown exception (failure.exception(); failure.code() is the code
// of a returned error_code or of a thrown std::system_error, and empty for other exceptions, so
// test the failure itself, not its code).
//
// Semantics are errgroup's (go-semantics.md §1.15, EG-1..9):
//   - a default-constructed group is ready: no limit, and no context to cancel;
//   - with_context(parent) also returns a context derived from parent that ends with the first
//     failure (its cause() is that failure) or when wait() returns, whichever comes first (a
//     wait() without failure ends it with errc::canceled);
//   - go(f) runs f in a new goroutine (csp::go); at the limit it first waits for a free slot,
//     ignoring any context, as Go's does; try_go(f) starts f only if a slot is free and never
//     waits. set_limit(n): at most n tasks at once; n < 0 removes the limit; n == 0 makes go()
//     wait forever and try_go() fail. Changing the limit while tasks of the current limit run
//     throws panic_error("errgroup: modify limit while N goroutines in the group are still
//     active").
//   - the first task to *finish* with a failure wins; later failures are dropped, as in Go;
//   - wait() returns once every task started so far has returned, then reports the first
//     failure. The group may be reused after wait() (go again, wait again); the first failure
//     stays recorded.
// Deviation from Go, on purpose: errgroup (since v0.16) lets a panicking f crash the process.
// Here any exception escaping f — panic_error included — is the task's failure: wait() is how
// a program catches what its goroutines throw.
//
// Memory ordering: everything a task does before it returns happens before wait() returns; a
// failure cancels the group's context before wait() can return.
// Lifetime: a group is a movable handle to shared state that its running tasks also hold, so
// the handle may go before they finish (they still run to completion); a moved-from handle may
// only be assigned to or destroyed. Tasks must not outlive what they capture by reference:
// wait() before those go.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/detail/adaptive_mutex.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"

namespace csp {

namespace detail {

// A task: callable with no arguments, returning void or something that converts to
// std::error_code (a non-empty one is a failure).
template <class F>
concept group_task = std::invocable < std::decay_t<F>
& > &&(std::is_void_v<std::invoke_result_t<std::decay_t<F>&>> ||
       std::convertible_to<std::invoke_result_t<std::decay_t<F>&>, std::error_code>);

class error_group_state;

}  // namespace detail

class error_group {
 public:
  // What wait_error() reports: the first failure, or nothing (false) if no task failed.
  class failure {
   public:
    failure() noexcept = default;
    failure(std::exception_ptr exception, std::error_code code) noexcept
        : exception_(std::move(exception)), code_(code) {}

    // True when a task failed.
    explicit operator bool() const noexcept { return exception_ != nullptr; }
    // The exception the task threw; for a returned error_code, a std::system_error carrying it.
    const std::exception_ptr& exception() const noexcept { return exception_; }
    // The error_code the task returned, or the code() of the std::system_error it threw; empty
    // for any other exception.
    const std::error_code& code() const noexcept { return code_; }
    // The exception's what() ("" when there is no failure).
    std::string message() const;
    // Throws the failure (the std::system_error, for a returned error_code).
    [[noreturn]] void rethrow() const { std::rethrow_exception(exception_); }

   private:
    std::exception_ptr exception_;
    std::error_code code_;
  };

  // A group with no limit and no context (Go's zero Group).
  error_group();
  error_group(error_group&&) noexcept = default;
  error_group& operator=(error_group&&) noexcept = default;
  error_group(const error_group&) = delete;
  error_group& operator=(const error_group&) = delete;
  ~error_group() = default;

  // Returns a new group and a context derived from `parent` that ends with the group's first
  // failure or when wait() returns: auto [g, ctx] = csp::error_group::with_context(parent).
  static std::pair<error_group, context> with_context(const context& parent);

  // Runs `f` in a new goroutine, first waiting for a free slot if the group is at its limit.
  template <detail::group_task F>
  void go(F&& f, spawn_site site = spawn_site::here());

  // Runs `f` in a new goroutine if the group is below its limit; true if it started it. Never
  // waits.
  template <detail::group_task F>
  bool try_go(F&& f, spawn_site site = spawn_site::here());

  // Allows at most `limit` tasks at once; a negative limit removes the limit.
  void set_limit(std::ptrdiff_t limit);

  // Waits for every task started so far, then rethrows the first failure, if any.
  void wait();

  // Waits for every task started so far, then returns the first failure (empty if none).
  [[nodiscard]] failure wait_error();

 private:
  template <class F>
  void start(channel<std::monostate> slots, F&& f, spawn_site site);

  std::shared_ptr<detail::error_group_state> state_;
};

namespace detail {

// What a group's handle and its running tasks share.
class error_group_state {
 public:
  wait_group tasks;
  cancel_cause_function cancel;  // with_context's; does nothing for a zero group

  // Records a failure unless one is recorded already, and cancels the group's context with it.
  void fail(std::exception_ptr exception, std::error_code code);
  // The first failure, or an empty one.
  error_group::failure first_failure();
  // The channel whose buffered tokens count the running tasks (Go's sem); nil: no limit.
  channel<std::monostate> slots();
  void set_limit(std::ptrdiff_t limit);

 private:
  adaptive_mutex lock_;
  std::exception_ptr exception_ CSP_GUARDED_BY(lock_);
  std::error_code code_ CSP_GUARDED_BY(lock_);
  channel<std::monostate> slots_ CSP_GUARDED_BY(lock_){nullptr};
};

// Runs a task and records how it failed, if it did.
template <class F>
void run_group_task(error_group_state& state, F& function) {
  using result_type = std::invoke_result_t<F&>;
  try {
    if constexpr (std::is_void_v<result_type>) {
      std::invoke(function);
    } else if (const std::error_code code = std::invoke(function)) {
      state.fail(std::make_exception_ptr(std::system_error(code)), code);
    }
  } catch (const std::system_error& error) {
    state.fail(std::current_exception(), error.code());
  } catch (...) {
    state.fail(std::current_exception(), {});
  }
}

}  // namespace detail

template <detail::group_task F>
void error_group::go(F&& f, spawn_site site) {
  channel<std::monostate> slots = state_->slots();
  // At the limit: wait for a running task to give its slot back (Go's g.sem <- token{}).
  if (slots != nullptr) slots.send(std::monostate{});
  start(std::move(slots), std::forward<F>(f), site);
}

template <detail::group_task F>
bool error_group::try_go(F&& f, spawn_site site) {
  channel<std::monostate> slots = state_->slots();
  if (slots != nullptr && !slots.try_send(std::monostate{})) return false;
  start(std::move(slots), std::forward<F>(f), site);
  return true;
}

template <class F>
void error_group::start(channel<std::monostate> slots, F&& f, spawn_site site) {
  state_->tasks.add(1);
  try {
    csp::go(go_options{"error_group task", 0, site},
            [state = state_, slots, function = std::decay_t<F>(std::forward<F>(f))]() mutable {
              detail::run_group_task(*state, function);
              // Go's done(): give the slot back, then Done, so that a wait() that returns
              // finds every slot free again.
              if (slots != nullptr) (void)slots.receive();
              state->tasks.done();
            });
  } catch (...) {
    if (slots != nullptr) (void)slots.try_receive();
    state_->tasks.done();
    throw;
  }
}

}  // namespace csp
