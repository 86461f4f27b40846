// context.hpp: Go's context package — cancellation, deadlines and request-scoped values that
// flow down a call chain, and the blocking operations that stop when a context ends.
//
//   void worker(csp::context ctx, csp::receiver<int> jobs) {     // ctx first, as in Go
//     for (;;) {
//       auto job = jobs.receive(ctx);       // success | closed | canceled
//       if (!job) return;                    // closed, or ctx ended (ctx.err() says which way)
//       ...
//     }
//   }
//
//   auto [ctx, cancel] = csp::with_timeout(csp::background(), 5s);
//   csp::go(worker, ctx, jobs);
//   ...
//   cancel();                                // always, as Go's `defer cancel()`
//
// A context is a cheap shared handle (one pointer and a reference count; copy it freely, pass
// it by value) to an immutable node of a tree. background() and todo() are roots that never
// end; with_cancel, with_timeout, with_deadline, with_value and without_cancel derive children.
//
// Semantics are Go's (go-semantics.md §1.16, CTX-1..15):
//   - err() is empty while the context is live, then csp::errc::canceled or
//     csp::errc::deadline_exceeded, forever. done() is a receive-only channel closed when the
//     context ends — the same channel each call, never sent on, nil (a case that never fires)
//     for contexts that can never end: background(), todo(), without_cancel(), and their value
//     children.
//   - cancelling a context ends all its descendants with the same err() and cause(); nothing
//     travels from a child to its parent. A child of an ended parent is born ended.
//   - a cancel function is idempotent and may be called from any thread or goroutine, any number
//     of times; the first end of a context (cancel, parent, deadline) wins, with its error and
//     cause. It does not wait for the work to stop.
//   - calling the cancel function releases everything: it unlinks the child from its parent and
//     stops its timer. Unlike Go, forgetting it leaks nothing once the context's last handle is
//     gone (a node unlinks itself when destroyed); a live handle whose cancel function was
//     dropped stays linked until its parent ends, as in Go.
//   - a child's deadline is never later than its parent's: with_deadline past the parent's
//     deadline is with_cancel (deadline() reports the parent's); a deadline already passed gives
//     a context ended with deadline_exceeded. Deadlines are steady_clock time points (other
//     clocks convert) and fire on csp's one timer service, never a thread per context.
//   - causes are std::exception_ptr. cause(ctx) is null while ctx is live; then the cause given
//     to a with_cancel_cause function or a with_deadline_cause/with_timeout_cause deadline, or
//     else a std::system_error carrying err(). A cancel_cause_function called with null (Go's
//     cancel(nil)) gives the std::system_error for errc::canceled.
//   - values: with_value(ctx, key, args...) stores a T built from args under a
//     `csp::context_key<T>`, whose address is its identity (declare keys at namespace scope:
//     `inline const csp::context_key<std::string> request_id{"request_id"};`); ctx.value(key)
//     returns a pointer to the nearest one up the chain, or null. Values are immutable.
//   - without_cancel(ctx) keeps ctx's values and nothing else: never ends, no deadline.
//   - after_func(ctx, f) runs f in a new goroutine once ctx ends (at once if it has); the stop
//     function it returns unregisters f: true if that prevented f from running, false if f had
//     started or stop had been called before. It does not wait for f.
//
// Blocking operations bound to a context (the rule for all of them: if ctx has already ended
// when the call begins, it fails at once without doing anything, even if it could have; else
// it completes if it can without waiting; else it waits for whichever comes first):
//   ch.send(v, ctx)          -> bool: false = ctx ended first, v not sent (and left untouched)
//   ch.receive(ctx)          -> receive_result<T>: success | closed | canceled
//   csp::sleep_for(d, ctx), csp::sleep_until(t, ctx)  -> bool: false = ctx ended first
//   wg.wait(ctx)             -> bool: false = ctx ended before the count reached zero
//   m.lock(ctx)              -> bool: false = ctx ended first, the mutex is not held
//   csp::blocking(f, ctx)    -> bool (f returns void) or std::optional<R>: empty = ctx ended
// They work from goroutines and plain threads alike. `canceled` is never confused with
// `closed`: ctx.err() tells canceled from deadline_exceeded.
//
// csp::blocking(f, ctx) stops the *waiting*, not the call: f keeps running on the blocking pool
// until it returns, and its result (or exception) is then dropped. So f is copied, and must
// not refer to anything of the caller's by reference that may be gone by then: capture by
// value, or share ownership. A system call that must really stop needs its own means (a
// timeout, closing its file descriptor).
//
// Memory ordering: the call that ends a context (cancel function, parent's end, deadline)
// happens before any observation of the end — err() non-empty, done() seen closed (a receive
// or a select case), cause() non-null, a ctx-bound operation reporting canceled — and before an
// after_func callback starts. A cancel function that returns has ended the context and every
// descendant linked to it.
//
// Thread safety: every function here may be called concurrently on the same context.
// Lifetime: a context keeps its ancestors alive; done() keeps the context alive; values live as
//   long as the context node that holds them. Cancel and stop functions keep their context
//   alive, and so does an after_func registration until f starts or is stopped (as in Go, a
//   registration on a context that never ends lives as long as the process).
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "csp/channel.hpp"
#include "csp/detail/context_node.hpp"
#include "csp/go.hpp"
#include "csp/select.hpp"

namespace csp {

// The errors of a context (Go's context.Canceled and context.DeadlineExceeded).
enum class errc { canceled = 1, deadline_exceeded = 2 };

}  // namespace csp

template <>
struct std::is_error_code_enum<csp::errc> : std::true_type {};

namespace csp {

// The category of csp::errc: named "context", with Go's messages ("context canceled",
// "context deadline exceeded"). Its codes are equivalent to the portable conditions
// std::errc::operation_canceled and std::errc::timed_out.
const std::error_category& context_category() noexcept;

inline std::error_code make_error_code(errc error) noexcept {
  return {static_cast<int>(error), context_category()};
}

// A key for context values. Its address is its identity; its name is for diagnostics.
template <class T>
class context_key {
 public:
  explicit constexpr context_key(std::string_view name) noexcept : name_(name) {}
  context_key(const context_key&) = delete;
  context_key& operator=(const context_key&) = delete;

  constexpr std::string_view name() const noexcept { return name_; }

 private:
  std::string_view name_;
};

class context;
class cancel_function;
class cancel_cause_function;
class stop_function;

namespace detail {
struct context_access;
}  // namespace detail

// A handle to a context. Default-constructed, it is background().
class context {
 public:
  context() noexcept = default;

  // Returns why the context ended — csp::errc::canceled or csp::errc::deadline_exceeded — or
  // an empty error_code while it is live. Two loads; never blocks.
  std::error_code err() const noexcept {
    const detail::cancel_node* const canceler = node_ ? node_->canceler : nullptr;
    if (canceler == nullptr) return {};
    switch (canceler->end()) {
      case detail::context_end::live:
        return {};
      case detail::context_end::canceled:
        return make_error_code(errc::canceled);
      case detail::context_end::deadline_exceeded:
        return make_error_code(errc::deadline_exceeded);
    }
    return {};
  }

  // Returns a channel closed when the context ends (nil if it can never end): use it in a
  // select, as csp::on_receive(ctx.done()).
  receiver<std::monostate> done() const {
    if (node_ == nullptr || node_->canceler == nullptr) return receiver<std::monostate>(nullptr);
    return detail::handle_access::make<receiver<std::monostate>>(
        std::shared_ptr<detail::channel_core<std::monostate>>(node_, node_->canceler));
  }

  // Returns the time at which the context ends by itself, if it has one.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept {
    const detail::cancel_node* const canceler = node_ ? node_->canceler : nullptr;
    if (canceler == nullptr || canceler->deadline() == detail::no_deadline) return std::nullopt;
    return canceler->deadline();
  }

  // Returns the value stored under `key` by this context or its nearest ancestor that has
  // one, or null.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    return static_cast<const T*>(detail::find_value(node_.get(), &key));
  }

  // Two handles are equal when they refer to the same context.
  friend bool operator==(const context&, const context&) noexcept = default;

 private:
  friend struct detail::context_access;
  explicit context(std::shared_ptr<detail::context_node> node) noexcept : node_(std::move(node)) {}

  std::shared_ptr<detail::context_node> node_;
};

// Cancels the context it came with (Go's CancelFunc); see the top of this header.
// Default-constructed, it does nothing.
class cancel_function {
 public:
  cancel_function() noexcept = default;
  void operator()() const;

 private:
  friend struct detail::context_access;
  explicit cancel_function(std::shared_ptr<detail::cancel_node> node) noexcept
      : node_(std::move(node)) {}
  std::shared_ptr<detail::cancel_node> node_;
};

// Cancels the context it came with, recording a cause (Go's CancelCauseFunc). Null, or no
// argument, records the std::system_error for errc::canceled.
class cancel_cause_function {
 public:
  cancel_cause_function() noexcept = default;
  void operator()(std::exception_ptr cause = nullptr) const;
  // Records `error` (any exception object, e.g. std::runtime_error("quota exhausted")).
  template <class E>
  requires std::derived_from<std::remove_cvref_t<E>, std::exception>
  void operator()(E&& error) const { (*this)(std::make_exception_ptr(std::forward<E>(error))); }

 private:
  friend struct detail::context_access;
  explicit cancel_cause_function(std::shared_ptr<detail::cancel_node> node) noexcept
      : node_(std::move(node)) {}
  std::shared_ptr<detail::cancel_node> node_;
};

// Unregisters an after_func callback; see after_func().
class stop_function {
 public:
  stop_function() noexcept = default;
  // True if this call prevented the callback from running; false if it had already started,
  // or had been stopped before.
  bool operator()() const;

 private:
  friend struct detail::context_access;
  explicit stop_function(std::shared_ptr<detail::after_func_entry> entry) noexcept
      : entry_(std::move(entry)) {}
  std::shared_ptr<detail::after_func_entry> entry_;
};

// Returns the root context: never ends, no deadline, no values (Go's context.Background).
inline context background() noexcept { return context(); }

// Returns a root context like background(), for code not yet plumbed (Go's context.TODO).
context todo() noexcept;

// Returns a child of `parent` and the function that cancels it.
std::pair<context, cancel_function> with_cancel(const context& parent);

// Returns a child of `parent` and a function that cancels it with a cause.
std::pair<context, cancel_cause_function> with_cancel_cause(const context& parent);

namespace detail {
std::pair<context, cancel_function> with_deadline_steady(const context& parent,
                                                         steady_time deadline,
                                                         std::exception_ptr cause);
}  // namespace detail

// Returns a child of `parent` that ends by itself at `deadline` (deadline_exceeded), and the
// function that cancels it sooner.
template <class Clock, class Duration>
std::pair<context, cancel_function> with_deadline(
    const context& parent, const std::chrono::time_point<Clock, Duration>& deadline) {
  return detail::with_deadline_steady(parent, detail::to_steady(deadline), nullptr);
}

// As with_deadline; when the deadline ends the context, cause() is `cause` (a cancel by the
// returned function records no cause).
template <class Clock, class Duration>
std::pair<context, cancel_function> with_deadline_cause(
    const context& parent, const std::chrono::time_point<Clock, Duration>& deadline,
    std::exception_ptr cause) {
  return detail::with_deadline_steady(parent, detail::to_steady(deadline), std::move(cause));
}

// with_deadline(parent, now + timeout).
template <class Rep, class Period>
std::pair<context, cancel_function> with_timeout(
    const context& parent, const std::chrono::duration<Rep, Period>& timeout) {
  return detail::with_deadline_steady(parent, detail::deadline_after(timeout), nullptr);
}

// with_deadline_cause(parent, now + timeout, cause).
template <class Rep, class Period>
std::pair<context, cancel_function> with_timeout_cause(
    const context& parent, const std::chrono::duration<Rep, Period>& timeout,
    std::exception_ptr cause) {
  return detail::with_deadline_steady(parent, detail::deadline_after(timeout), std::move(cause));
}

// Returns a child of `parent` carrying a T built from `args` under `key`.
template <class T, class... Args>
requires std::constructible_from<T, Args&&...> context with_value(const context& parent,
                                                                  const context_key<T>& key,
                                                                  Args&&... args);

// Returns a context with `parent`'s values that never ends and has no deadline.
context without_cancel(const context& parent);

// Returns why `ctx` ended: null while it is live; see the top of this header.
std::exception_ptr cause(const context& ctx) noexcept;

// Runs `f` in its own goroutine once `ctx` ends, or at once if it has; returns the function
// that unregisters it. Each call registers independently.
template <class F>
requires std::invocable < std::decay_t<F>
& > stop_function after_func(const context& ctx, F&& f, spawn_site site = spawn_site::here());

// Blocks the calling party for `duration`, or until `ctx` ends; true if it slept the whole time.
template <class Rep, class Period>
bool sleep_for(const std::chrono::duration<Rep, Period>& duration, const context& ctx);

// Blocks the calling party until `deadline`, or until `ctx` ends; true if the deadline passed.
template <class Clock, class Duration>
bool sleep_until(const std::chrono::time_point<Clock, Duration>& deadline, const context& ctx);

// Runs `f` on the blocking pool and waits for it, or until `ctx` ends (see the top of this
// header: f is copied and keeps running). Returns, for f returning void, whether f finished;
// else its result, empty if ctx ended first. Rethrows f's exception if it finished by throwing.
template <class F>
requires std::invocable < std::decay_t<F>
& > auto blocking(F&& f, const context& ctx, spawn_site site = spawn_site::here());

// -------------------------------------------------------------------------------------------
// Implementation.

namespace detail {

struct context_access {
  static cancel_node* canceler(const context& ctx) noexcept {
    return ctx.node_ ? ctx.node_->canceler : nullptr;
  }
  // Whether ctx has ended; err() without building an error_code, for the fast paths.
  static bool ended(const context& ctx) noexcept {
    const cancel_node* const node = canceler(ctx);
    return node != nullptr && node->end() != context_end::live;
  }
  static const std::shared_ptr<context_node>& node(const context& ctx) noexcept {
    return ctx.node_;
  }
  static context make(std::shared_ptr<context_node> node) noexcept {
    return context(std::move(node));
  }
  template <class Function>
  static Function make_function(std::shared_ptr<cancel_node> node) noexcept {
    return Function(std::move(node));
  }
  static stop_function make_stop(std::shared_ptr<after_func_entry> entry) noexcept {
    return stop_function(std::move(entry));
  }
  // The number of children and after_func registrations linked to ctx's canceler (0 when it
  // has none); tests use it to show that cancelled children are released.
  static std::size_t link_count(const context& ctx);
  // The number of parties queued on ctx's done channel (a hint, read without the lock); tests
  // use it to know that a party really blocks before they end the context.
  static std::size_t waiting_count(const context& ctx) noexcept {
    const cancel_node* const node = canceler(ctx);
    return node != nullptr ? node->waiting_hint() : 0;
  }
};

// Queues a waiter on ctx's done channel as case `index`, for the lifetime of the object, so
// that the end of ctx claims the waiter as a partner would. For the blocking operations that
// are not channel operations (wait_group, mutex, sleep).
class done_subscription {
 public:
  done_subscription(const context& ctx, waiter& self, std::uint32_t index);
  ~done_subscription();
  done_subscription(const done_subscription&) = delete;
  done_subscription& operator=(const done_subscription&) = delete;

  // True when ctx had already ended: nothing was queued.
  bool refused() const noexcept { return refused_; }

 private:
  cancel_node* node_;  // null: ctx never ends, nothing queued
  std::optional<std::monostate> slot_;
  operation operation_;
  bool refused_ = false;
};

// A select case that sends the caller's own value, moving from it only if the case is taken,
// so that a send(v, ctx) that gives up leaves v untouched.
template <class T>
class send_reference_case final : public select_case {
 public:
  send_reference_case(channel_core<T>* core, T& value) noexcept : core_(core), value_(value) {}

  bool never_ready() const noexcept override { return core_ == nullptr; }
  bool try_now() override { return core_->try_send(value_); }
  bool enqueue(waiter& self, std::uint32_t index) override {
    operation_ = operation{&self, &value_, index};
    return core_->enqueue_send(operation_);
  }
  void dequeue() override { core_->dequeue_send(operation_); }
  void complete(waiter::outcome how) override {
    if (how == waiter::outcome::closed) throw_panic("send on closed channel");
  }
  void run_callback() override {}

 private:
  channel_core<T>* core_;
  T& value_;
  operation operation_;
};

// The waiting part of receive(ctx) and send(v, ctx), kept out of line so that the fast paths
// above it inline into their callers.
template <class T, class Handle>
[[gnu::noinline]] channel_status receive_waiting(const Handle& channel, std::optional<T>& out,
                                                 const context& ctx) {
  channel_core<T>* const core = handle_access::core(channel);
  if (context_access::canceler(ctx) == nullptr) {
    // ctx never ends: a plain receive.
    if (core == nullptr) block_on_nil(no_deadline, false);
    return core->receive(out, no_deadline);
  }
  // Wait for the value or the end of ctx: select over the two.
  const receiver<std::monostate> done = ctx.done();
  receive_case<T, caller_slot<T>> data(channel_ref<T>(channel), caller_slot<T>{&out}, {});
  receive_case<std::monostate> end(channel_ref<std::monostate>(done), {}, {});
  select_case* const cases[2] = {&data, &end};
  std::uint32_t order[2];
  const std::size_t taken =
      run_select([&cases](std::size_t i) -> select_case& { return *cases[i]; }, 2, false, order);
  if (taken == 1) {
    out.reset();
    return channel_status::canceled;
  }
  return out ? channel_status::success : channel_status::closed;
}

template <class T, class Handle>
[[gnu::noinline]] bool send_waiting(const Handle& channel, T& value, const context& ctx) {
  channel_core<T>* const core = handle_access::core(channel);
  if (context_access::canceler(ctx) == nullptr) {
    if (core == nullptr) block_on_nil(no_deadline, true);
    return core->send(value, no_deadline);
  }
  const receiver<std::monostate> done = ctx.done();
  send_reference_case<T> data(core, value);
  receive_case<std::monostate> end(channel_ref<std::monostate>(done), {}, {});
  select_case* const cases[2] = {&data, &end};
  std::uint32_t order[2];
  return run_select([&cases](std::size_t i) -> select_case& { return *cases[i]; }, 2, false,
                    order) == 0;
}

template <class T, class Handle>
receive_result<T> receive_with_context(const Handle& channel, const context& ctx) {
  receive_result<T> result;
  if (context_access::ended(ctx)) {
    result.status = channel_status::canceled;
    return result;
  }
  // Fast path: a value (or the close) is already there. A deadline in the past makes the
  // blocking receive a try that goes straight for the lock, as receive() does.
  if (channel_core<T>* const core = handle_access::core(channel)) {
    result.status = core->receive(result.value, steady_time{});
    if (result.status != channel_status::timeout) return result;
  }
  result.status = receive_waiting<T>(channel, result.value, ctx);
  return result;
}

template <class T, class Handle>
bool send_with_context(const Handle& channel, T& value, const context& ctx) {
  if (context_access::ended(ctx)) return false;
  // Fast path: room in the buffer, or a receiver waiting (as for receive). Throws on a closed
  // channel.
  channel_core<T>* const core = handle_access::core(channel);
  if (core != nullptr && core->send(value, steady_time{})) return true;
  return send_waiting<T>(channel, value, ctx);
}

bool sleep_until_context(steady_time deadline, const context& ctx);

stop_function register_after_func(const context& ctx, std::shared_ptr<after_func_entry> entry);

template <class F>
class after_func_call final : public after_func_entry {
 public:
  template <class G>
  after_func_call(G&& function, spawn_site site)
      : function_(std::forward<G>(function)), site_(site) {}

  void start(std::shared_ptr<after_func_entry> self) override {
    csp::go(go_options{"after_func", 0, site_},
            [self = std::move(self)] { static_cast<after_func_call&>(*self).function_(); });
  }

 private:
  F function_;
  spawn_site site_;
};

}  // namespace detail

template <class T, class... Args>
requires std::constructible_from<T, Args&&...> context with_value(const context& parent,
                                                                  const context_key<T>& key,
                                                                  Args&&... args) {
  return detail::context_access::make(std::make_shared<detail::value_node<T>>(
      detail::context_access::node(parent), &key, std::forward<Args>(args)...));
}

template <class F>
requires std::invocable < std::decay_t<F>
& > stop_function after_func(const context& ctx, F&& f, spawn_site site) {
  return detail::register_after_func(
      ctx, std::make_shared<detail::after_func_call<std::decay_t<F>>>(std::forward<F>(f), site));
}

template <class Rep, class Period>
bool sleep_for(const std::chrono::duration<Rep, Period>& duration, const context& ctx) {
  return detail::sleep_until_context(detail::deadline_after(duration), ctx);
}

template <class Clock, class Duration>
bool sleep_until(const std::chrono::time_point<Clock, Duration>& deadline, const context& ctx) {
  return detail::sleep_until_context(detail::to_steady(deadline), ctx);
}

template <class F>
requires std::invocable < std::decay_t<F>
& > auto blocking(F&& f, const context& ctx, spawn_site site) {
  using function_type = std::decay_t<F>;
  using result_type = std::invoke_result_t<function_type&>;
  static_assert(!std::is_reference_v<result_type>, "blocking(f, ctx): f must return by value");
  using answer = std::conditional_t<std::is_void_v<result_type>, bool, std::optional<result_type>>;
  if (detail::context_access::ended(ctx)) return answer{};
  if (detail::context_access::canceler(ctx) == nullptr) {
    // ctx never ends: nothing to abandon, so no copy and no helper goroutine.
    if constexpr (std::is_void_v<result_type>) {
      csp::blocking([&f] { std::invoke(f); });
      return true;
    } else {
      return answer(csp::blocking([&f] { return std::invoke(f); }));
    }
  }
  // The job's state belongs to a helper goroutine (which waits for the blocking pool) and to a
  // one-slot channel; the caller only receives from that channel, so it can walk away.
  struct outcome {
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<result_type>, char, std::optional<result_type>> value{};
  };
  channel<outcome> finished(1);
  csp::go(go_options{"blocking(f, ctx)", 0, site},
          [finished, function = function_type(std::forward<F>(f))]() mutable {
            outcome result;
            try {
              if constexpr (std::is_void_v<result_type>) {
                csp::blocking([&function] { function(); });
              } else {
                result.value.emplace(csp::blocking([&function] { return function(); }));
              }
            } catch (...) {
              result.error = std::current_exception();
            }
            // Never blocks: one slot, one send. Dropped with the channel if nobody waits.
            (void)finished.try_send(std::move(result));
          });
  auto received = finished.receive(ctx);
  if (!received) return answer{};
  if (received->error) std::rethrow_exception(received->error);
  if constexpr (std::is_void_v<result_type>) {
    return true;
  } else {
    return answer(std::move(*received->value));
  }
}

}  // namespace csp
