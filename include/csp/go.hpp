// go.hpp: goroutines — csp::go, csp::run, and the runtime's knobs.
//
//   csp::go([=] { worker(id, jobs, results); });          // Go: go worker(id, jobs, results)
//   csp::go(worker, id, jobs, results);                    // arguments copied, like Go's
//   csp::go({.name = "reader", .stack_size = 1 << 20}, f); // options
//   csp::run([] { ... });                                  // main as a goroutine
//
// A goroutine is a stackful fiber run by an M:N scheduler: max_procs() worker threads
// (CSP_MAXPROCS, default: the CPUs the process may run on) share all goroutines, with work
// stealing. Inside a goroutine, every blocking csp operation — channel send and receive, select,
// sleep_for, wait_group::wait, mutex::lock, blocking() — parks only the goroutine and lets its
// thread run others. Synchronous code, range-for over channels and callbacks that block all work as
// they are: nothing is coloured async.
//
// Guarantees:
//   - go() copies (decay-copies) the function and its arguments in the caller, before the
//     goroutine starts (GO-1); the call happens before the goroutine's first statement (MM-5);
//   - the runtime starts on first use; plain threads and goroutines share channels freely;
//   - an exception escaping a goroutine ends the process with a report and exit status 2, as an
//     unrecovered Go panic does; use error_group (or catch) to handle failures;
//   - goroutines may move between worker threads whenever they block: thread_local variables,
//     errno and the floating-point environment (fesetround) are not preserved across a
//     blocking csp operation. lock_os_thread() pins the calling goroutine to its current thread
//     (and takes that thread out of the pool) until the matching unlock_os_thread(), for code
//     that keeps thread-local state;
//   - blocking system calls (file or socket I/O, std::mutex, std::this_thread::sleep_for) block
//     the worker thread, not just the goroutine: wrap them in csp::blocking(f), which runs f on
//     a separate, elastic pool of threads while the goroutine parks.
// Stacks: 256 KiB by default (CSP_STACK_SIZE changes the default, go_options::stack_size one
// goroutine's), committed lazily, pooled; see docs/runtime.md for the overflow protection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "csp/detail/waiter.hpp"

namespace csp {

// Where a goroutine was started: the go() call, recorded for diagnostics (dumps, panics,
// deadlock and leak reports). Captured by default arguments at the call site, so it costs
// three pointer-sized values and no work. (std::source_location would do, but clang 14 with
// libstdc++ 12 does not provide it.)
struct spawn_site {
  const char* file = "";
  unsigned line = 0;
  const char* function = "";

  static constexpr spawn_site here(const char* file = __builtin_FILE(),
                                   unsigned line = __builtin_LINE(),
                                   const char* function = __builtin_FUNCTION()) noexcept {
    return {file, line, function};
  }
};

struct go_options {
  std::string name;                      // shown in diagnostics
  std::size_t stack_size = 0;            // usable bytes; 0: the default (256 KiB, CSP_STACK_SIZE)
  spawn_site site = spawn_site::here();  // where go() was called
};

namespace detail {

// The closure of a goroutine, type-erased; the runtime places it at the top of the stack, or
// beside the goroutine's record while it waits to run without a stack.
struct goroutine_task {
  virtual void run() = 0;
  // Moves the closure to `where` (room for it, aligned to 64 bytes) and ends this one,
  // returning the moved one; null, leaving it where it is, if its move could throw. Called
  // once, before run(), when the goroutine gets its stack.
  virtual goroutine_task* relocate(void* where) noexcept = 0;
  virtual ~goroutine_task() = default;
};

template <class Tuple>
struct tuple_task final : goroutine_task {
  explicit tuple_task(Tuple&& t) : call(std::move(t)) {}
  void run() override {
    std::apply([](auto& f, auto&... args) { std::invoke(f, args...); }, call);
  }
  goroutine_task* relocate([[maybe_unused]] void* where) noexcept override {
    if constexpr (std::is_nothrow_move_constructible_v<Tuple>) {
      auto* moved = ::new (where) tuple_task(std::move(call));
      this->~tuple_task();
      return moved;
    } else {
      return nullptr;
    }
  }
  Tuple call;
};

void spawn(go_options&& options, goroutine_task* (*place)(void* where, void* closure),
           std::size_t size, void* closure);

// A one-shot signal from any party to the one that created it; used by run() and blocking().
// Memory ordering: everything before signal() happens before wait() returns.
class completion {
 public:
  completion() = default;
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  // Blocks until signal(); the object may then be destroyed.
  void wait() { waiter_.wait(); }
  // Wakes the waiter; the signalling party must not touch the object afterwards.
  void signal() noexcept {
    waiter_.try_claim(0);
    waiter_.finish(waiter::outcome::success);
  }

 private:
  waiter waiter_;
};

// Runs `job` on the blocking pool and parks the calling goroutine until it is done.
void run_on_blocking_pool(void (*job)(void*), void* argument);

// Brackets a csp::run call, within which whole-program deadlock detection applies.
void enter_run() noexcept;
void leave_run() noexcept;
struct run_scope {
  run_scope() noexcept { enter_run(); }
  ~run_scope() { leave_run(); }
  run_scope(const run_scope&) = delete;
  run_scope& operator=(const run_scope&) = delete;
};

}  // namespace detail

// Starts `f(args...)` in a new goroutine, with options (name, stack size).
template <class F, class... Args>
requires std::invocable < std::decay_t<F>
&, std::decay_t<Args>&... > void go(go_options options, F&& f, Args&&... args) {
  using tuple = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  tuple closure(std::forward<F>(f), std::forward<Args>(args)...);
  detail::spawn(
      std::move(options),
      [](void* where, void* source) -> detail::goroutine_task* {
        return ::new (where) detail::tuple_task<tuple>(std::move(*static_cast<tuple*>(source)));
      },
      sizeof(detail::tuple_task<tuple>), &closure);
}

// Starts `f(args...)` in a new goroutine (Go's `go f(args...)`). One overload per argument
// count, up to six, because the call site is captured by a defaulted trailing parameter, which
// cannot follow a parameter pack; pass more through a lambda.
template <class F>
requires std::invocable < std::decay_t<F>
& > void go(F&& f, spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f));
}
template <class F, class A1>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>& > void go(F&& f, A1&& a1, spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1));
}
template <class F, class A1, class A2>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>&,
    std::decay_t<A2>& > void go(F&& f, A1&& a1, A2&& a2, spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2));
}
template <class F, class A1, class A2, class A3>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>&, std::decay_t<A2>&,
    std::decay_t<A3>& >
        void go(F&& f, A1&& a1, A2&& a2, A3&& a3, spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
     std::forward<A3>(a3));
}
template <class F, class A1, class A2, class A3, class A4>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>&, std::decay_t<A2>&, std::decay_t<A3>&,
    std::decay_t<A4>& >
        void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
     std::forward<A3>(a3), std::forward<A4>(a4));
}
template <class F, class A1, class A2, class A3, class A4, class A5>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>&, std::decay_t<A2>&, std::decay_t<A3>&, std::decay_t<A4>&,
    std::decay_t<A5>& > void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5,
                                spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
     std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5));
}
template <class F, class A1, class A2, class A3, class A4, class A5, class A6>
requires std::invocable < std::decay_t<F>
&, std::decay_t<A1>&, std::decay_t<A2>&, std::decay_t<A3>&, std::decay_t<A4>&, std::decay_t<A5>&,
    std::decay_t<A6>& > void go(F&& f, A1&& a1, A2&& a2, A3&& a3, A4&& a4, A5&& a5, A6&& a6,
                                spawn_site site = spawn_site::here()) {
  go(go_options{{}, 0, site}, std::forward<F>(f), std::forward<A1>(a1), std::forward<A2>(a2),
     std::forward<A3>(a3), std::forward<A4>(a4), std::forward<A5>(a5), std::forward<A6>(a6));
}

// Returns whether the caller runs inside a goroutine.
bool in_goroutine() noexcept;

// Runs `main` as a goroutine and blocks the calling thread until it returns; returns its
// result or rethrows its exception. Inside a goroutine it just calls `main`. May be called any
// number of times, one after another or from several threads.
template <class F>
std::invoke_result_t<F&> run(F&& main, spawn_site site = spawn_site::here()) {
  using result_type = std::invoke_result_t<F&>;
  if (in_goroutine()) return std::invoke(main);
  detail::run_scope deadlock_detection;
  detail::completion done;
  std::exception_ptr error;
  std::conditional_t<std::is_void_v<result_type>, char, std::optional<result_type>> result;
  go(go_options{"main", 0, site}, [&] {
    try {
      if constexpr (std::is_void_v<result_type>) {
        std::invoke(main);
      } else {
        result.emplace(std::invoke(main));
      }
    } catch (...) {
      error = std::current_exception();
    }
    done.signal();
  });
  done.wait();
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<result_type>) return std::move(*result);
}

// Lets other goroutines run (Go's runtime.Gosched); on a plain thread, std::this_thread::yield.
void yield();

// Sets the number of worker threads that run goroutines (Go's GOMAXPROCS) and returns the
// previous value; n < 1 only reports it. When it returns, goroutines run on at most n workers:
// lowering it waits until the workers beyond n have stopped, each after the goroutine it runs
// blocks, yields or returns (there is no preemption). Called from a goroutine, it waits by
// yielding, and returns on one of the n workers.
int set_max_procs(int n);
int max_procs();

// The number of goroutines that exist (Go's runtime.NumGoroutine).
std::int64_t goroutine_count();

// Wires the calling goroutine to its current thread until as many unlock_os_thread() calls
// (Go's runtime.LockOSThread). No effect on a plain thread.
void lock_os_thread();
void unlock_os_thread();

// Runs `f` — a call that blocks its thread — without blocking the worker thread: inside a
// goroutine, f runs on the blocking pool while the goroutine parks; on a plain thread it just
// runs. Returns f's result or rethrows its exception.
template <class F>
std::invoke_result_t<F&> blocking(F&& f) {
  using result_type = std::invoke_result_t<F&>;
  if (!in_goroutine()) return std::invoke(f);
  struct job_state {
    std::remove_reference_t<F>* function;  // F may be an lvalue reference type
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<result_type>, char, std::optional<result_type>> result;
  } state{&f, nullptr, {}};
  detail::run_on_blocking_pool(
      [](void* argument) {
        auto& s = *static_cast<job_state*>(argument);
        try {
          if constexpr (std::is_void_v<result_type>) {
            std::invoke(*s.function);
          } else {
            s.result.emplace(std::invoke(*s.function));
          }
        } catch (...) {
          s.error = std::current_exception();
        }
      },
      &state);
  if (state.error) std::rethrow_exception(state.error);
  if constexpr (!std::is_void_v<result_type>) return std::move(*state.result);
}

}  // namespace csp
