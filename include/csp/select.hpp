// select.hpp: Go's select statement — wait on several channel operations, take exactly one.
//
//   std::optional<int> job;
//   switch (csp::select(csp::on_receive(jobs, job),          // job = value, or empty if closed
//                       csp::on_receive(quit),               // value discarded
//                       csp::on_send(results, r))) {         // r was copied into the case
//     case 0: ...; break;
//     case 1: return;
//     case 2: ...; break;
//   }
//   csp::select(csp::on_receive(jobs, job), csp::on_default());   // never blocks
//
// select() returns the position of the case it took among its arguments. Each case may also
// carry a callback, run after the case was taken: on_receive(ch, [](std::optional<T> v) {...}),
// on_send(ch, v, [] {...}), on_default([] {...}).
//
// Semantics are Go's (go-semantics.md §1.8):
//   - every case's channel and send value are evaluated once, before select runs (they are the
//     arguments of on_receive / on_send);
//   - if several cases can proceed, one is chosen uniformly at random;
//   - else the default case, if any, is taken; else select blocks until one case can proceed,
//     and exactly one case ever completes: a case that was not taken never delivered nor
//     consumed a value, and an out-parameter is written only for the case taken;
//   - a nil channel's case never proceeds; select() with no cases, or only nil cases and no
//     default, blocks forever;
//   - a receive from a closed channel always proceeds, yielding an empty optional;
//   - a send to a closed channel proceeds by throwing panic_error("send on closed channel"),
//     even when a default case is present;
//   - the same channel may appear in several cases, even as a send and a receive; a select never
//     pairs its own send with its own receive (it blocks, as Go's does).
//
// Dynamic form (Go's reflect.Select): select(cases) over a contiguous range of cases of one
// type, e.g. a std::vector<csp::receive_case<int>> built with on_receive(ch) for each channel;
// the value received by case i is cases[i].value(). select(cases, on_default()) returns
// cases.size() when it takes the default.
//
// Memory ordering: as for the channel operation that the taken case performs.
// Cost: a select with a fixed number of cases allocates nothing; the dynamic form allocates
// only for more than 64 cases.
// Lifetime: a case refers to the handle it was given when that is an lvalue, and keeps an
// rvalue handle (such as csp::after(d)) alive itself; build cases in the select call, or keep
// their handles alive as long as the cases.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "csp/detail/waiter.hpp"

namespace csp {
namespace detail {

// Returns a uniformly distributed number in [0, bound); per-thread state, never locked.
std::uint32_t random_below(std::uint32_t bound) noexcept;

// Blocks the calling party forever (Go's `select {}`).
[[noreturn]] void block_forever();

// What the select engine sees of one case.
class select_case {
 public:
  // True for a case on a nil channel: it is never ready and never queued.
  virtual bool never_ready() const noexcept = 0;
  // Performs the operation if it can proceed without waiting; true if it did (a receive from a
  // closed channel counts). Throws panic_error for a send on a closed channel.
  virtual bool try_now() = 0;
  // Queues the case's operation for `self` as case `index`; false (nothing queued) when the
  // operation could proceed right now.
  virtual bool enqueue(waiter& self, std::uint32_t index) = 0;
  // Removes the queued operation if a partner has not already done so.
  virtual void dequeue() = 0;
  // Finishes the case after a partner took it with `how` (success or closed).
  virtual void complete(waiter::outcome how) = 0;
  // Runs the case's callback, if it has one.
  virtual void run_callback() = 0;

 protected:
  select_case() = default;
  select_case(const select_case&) = default;
  select_case& operator=(const select_case&) = default;
  ~select_case() = default;
};

// Draws the poll order: a random permutation of the live cases (inside-out Fisher–Yates), so
// that the first ready case found is a uniform choice among the ready ones. `never_ready(i)`
// tells whether case i is on a nil channel. Returns how many cases are live. Always inlined:
// as a call, the loop and its callback cost SelectUncontended 10% (A/B).
template <class NeverReady>
[[gnu::always_inline]] inline std::uint32_t draw_poll_order(std::size_t count,
                                                            NeverReady&& never_ready,
                                                            std::uint32_t* order) {
  std::uint32_t live = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (never_ready(i)) continue;
    const std::uint32_t j = live == 0 ? 0 : random_below(live + 1);
    order[live] = order[j];
    order[j] = i;
    ++live;
  }
  return live;
}

// Polls the `live` cases in `order` again, in rounds of doubling pauses, when the parker says
// polling pays (parker::polls_before_blocking), and returns the position in `order` of the
// case taken, or `live` if none became ready. In SelectAsyncContended two goroutines pass two
// tokens through two channels, and one select in 60 to 80 found both channels empty while the
// other goroutine held both tokens. Each of those queued on both channels, which sent every
// operation on them through their locks until it left (the ring's slow bit): 3-7% of the
// receives and sends (bench/compare/experiments/select-counts.patch counts them). Polling first
// made the benchmark 0.83x as long (docs/runtime.md, "A select polls before it blocks").
inline constexpr unsigned select_poll_rounds = 6;  // 63 pauses: 0.6 us on a 10 ns pause

template <class At>
std::uint32_t poll_before_blocking(At& at, const std::uint32_t* order, std::uint32_t live) {
  if (!current_parker().polls_before_blocking()) return live;
  for (unsigned round = 0; round < select_poll_rounds; ++round) {
    for (unsigned i = 0; i < (1u << round); ++i) cpu_relax();
    for (std::uint32_t k = 0; k < live; ++k) {
      if (at(order[k]).try_now()) return k;
    }
  }
  return live;
}

// Runs the three passes of Go's selectgo over `count` cases, `at(i)` giving case i, and returns
// the index of the case taken, or `count` for the default case. `order` has room for `count`.
// `polled`: the caller has done the first round's pass 1 itself, found nothing ready and no
// default, and left its poll order of `live` cases in `order`.
template <class At>
std::size_t run_select(At&& at, std::size_t count, bool has_default, std::uint32_t* order,
                       bool polled = false, std::uint32_t live = 0) {
  for (;; polled = false) {
    if (!polled) {
      live = draw_poll_order(
          count, [&at](std::uint32_t i) { return at(i).never_ready(); }, order);

      // Pass 1: take the first case that can proceed now.
      for (std::uint32_t k = 0; k < live; ++k) {
        if (at(order[k]).try_now()) return order[k];
      }
      if (has_default) return count;
    }
    if (live == 0) block_forever();
    if (const std::uint32_t k = poll_before_blocking(at, order, live); k < live) return order[k];

    // Pass 2: queue one operation per case, all sharing one waiter, so one CAS picks the winner.
    waiter self;
    std::uint32_t queued = 0;
    bool became_ready = false;
    for (; queued < live; ++queued) {
      if (!at(order[queued]).enqueue(self, order[queued])) {
        became_ready = true;
        break;
      }
    }
    // A case became ready while we queued: give up this round unless a partner already chose
    // us, and start over so that pass 1 takes it.
    const bool aborted = became_ready && self.try_abort();
    if (!aborted) self.note_wait({wait_reason::kind::select, nullptr, 0, live});
    const waiter::result result = aborted ? waiter::result{} : self.wait();

    // Pass 3: remove the operations still queued. The claimer already unlinked the winner.
    for (std::uint32_t k = 0; k < queued; ++k) {
      if (aborted || order[k] != result.case_index()) at(order[k]).dequeue();
    }
    if (aborted || result.how() == waiter::outcome::retry) continue;
    at(result.case_index()).complete(result.how());
    return result.case_index();
  }
}

// How a case refers to its channel: by pointer when given an lvalue handle, owning a copy of
// the handle's shared state when given an rvalue (csp::after(d) in a select call).
template <class T>
class channel_ref {
 public:
  template <class Handle>
  explicit channel_ref(Handle&& handle) {
    if constexpr (std::is_lvalue_reference_v<Handle>) {
      core_ = handle_access::core(handle);
    } else {
      owner_ = handle_access::shared_core(handle);
      core_ = owner_.get();
    }
  }
  channel_core<T>* get() const noexcept { return core_; }

 private:
  channel_core<T>* core_ = nullptr;
  std::shared_ptr<channel_core<T>> owner_;
};

struct no_callback {};

// Where a receive case puts its value: the caller's optional, or its own.
template <class T>
struct own_slot {
  std::optional<T> value;
  std::optional<T>& slot() noexcept { return value; }
};
template <class T>
struct caller_slot {
  std::optional<T>* target;
  std::optional<T>& slot() noexcept { return *target; }
};

template <class H>
using element_of = typename std::remove_cvref_t<H>::value_type;

template <class H>
concept receivable_handle = requires {
  typename std::remove_cvref_t<H>::value_type;
}
&&std::convertible_to<const std::remove_cvref_t<H>&, receiver<element_of<H>>>;
template <class H>
concept sendable_handle = requires {
  typename std::remove_cvref_t<H>::value_type;
}
&&std::convertible_to<const std::remove_cvref_t<H>&, sender<element_of<H>>>;

}  // namespace detail

// A receive case: on_receive(ch), on_receive(ch, out), on_receive(ch, callback), or
// on_receive(ch, out, callback).
template <class T, class Slot = detail::own_slot<T>, class Callback = detail::no_callback>
class receive_case final : public detail::select_case {
 public:
  receive_case(detail::channel_ref<T> channel, Slot slot, Callback callback)
      : channel_(std::move(channel)), slot_(std::move(slot)), callback_(std::move(callback)) {}

  // The value the case received when it was taken; empty if it found the channel closed. A
  // case that was not taken keeps what it held before (a case reused across selects keeps its
  // last value), so read it only for the case select() returned.
  std::optional<T>& value() noexcept { return slot_.slot(); }

  bool never_ready() const noexcept override { return channel_.get() == nullptr; }
  bool try_now() override { return took(channel_.get()->try_receive(slot_.slot())); }
  // try_now() inlined down to the channel's lock-free answer (flavors.hpp), for the select of
  // one case and a default. Not for every case of a larger select: there, inlining each case's
  // try made SelectAsyncContended 4-5% slower.
  [[gnu::always_inline]] bool try_now_inline() {
    return took(detail::try_receive_now(*channel_.get(), slot_.slot()));
  }
  bool enqueue(detail::waiter& self, std::uint32_t index) override {
    operation_ = detail::operation{&self, &slot_.slot(), index};
    return channel_.get()->enqueue_receive(operation_);
  }
  void dequeue() override { channel_.get()->dequeue_receive(operation_); }
  void complete(detail::waiter::outcome how) override {
    if (how == detail::waiter::outcome::closed) slot_.slot().reset();
  }
  void run_callback() override {
    if constexpr (std::is_same_v<Callback, detail::no_callback>) {
      return;
    } else if constexpr (std::is_same_v<Slot, detail::own_slot<T>> &&
                         std::invocable<Callback&, std::optional<T>&&>) {
      std::invoke(callback_, std::move(slot_.slot()));
    } else if constexpr (std::invocable<Callback&, std::optional<T>&>) {
      std::invoke(callback_, slot_.slot());
    } else {
      static_assert(std::invocable<Callback&>,
                    "an on_receive callback takes std::optional<T> or nothing");
      std::invoke(callback_);
    }
  }

 private:
  detail::channel_ref<T> channel_;
  Slot slot_;
  Callback callback_;
  detail::operation operation_;

  bool took(channel_status status) {
    if (status == channel_status::empty) return false;
    if (status == channel_status::closed) slot_.slot().reset();
    return true;
  }
};

// A send case: on_send(ch, value) or on_send(ch, value, callback). The value is stored in the
// case and moved from only if the case is taken.
template <class T, class Callback = detail::no_callback>
class send_case final : public detail::select_case {
 public:
  send_case(detail::channel_ref<T> channel, T value, Callback callback)
      : channel_(std::move(channel)), value_(std::move(value)), callback_(std::move(callback)) {}

  bool never_ready() const noexcept override { return channel_.get() == nullptr; }
  bool try_now() override { return channel_.get()->try_send(value_); }
  // As receive_case's.
  [[gnu::always_inline]] bool try_now_inline() {
    return detail::try_send_now(*channel_.get(), value_);
  }
  bool enqueue(detail::waiter& self, std::uint32_t index) override {
    operation_ = detail::operation{&self, &value_, index};
    return channel_.get()->enqueue_send(operation_);
  }
  void dequeue() override { channel_.get()->dequeue_send(operation_); }
  void complete(detail::waiter::outcome how) override {
    if (how == detail::waiter::outcome::closed) detail::throw_panic("send on closed channel");
  }
  void run_callback() override {
    if constexpr (!std::is_same_v<Callback, detail::no_callback>) std::invoke(callback_);
  }

 private:
  detail::channel_ref<T> channel_;
  T value_;
  Callback callback_;
  detail::operation operation_;
};

// The default case: taken when no other case can proceed.
template <class Callback = detail::no_callback>
class default_case {
 public:
  explicit default_case(Callback callback = {}) : callback_(std::move(callback)) {}
  void run_callback() {
    if constexpr (!std::is_same_v<Callback, detail::no_callback>) std::invoke(callback_);
  }

 private:
  Callback callback_;
};

// Receives from `channel`, discarding the value (or keeping it in the case, for the dynamic
// form: case.value()).
template <detail::receivable_handle Handle>
auto on_receive(Handle&& channel) {
  using T = detail::element_of<Handle>;
  return receive_case<T>(detail::channel_ref<T>(std::forward<Handle>(channel)), {}, {});
}

// Receives from `channel` into `out`: the value, or empty if the channel is closed. `out` is
// written only if this case is taken.
template <detail::receivable_handle Handle>
auto on_receive(Handle&& channel, std::optional<detail::element_of<Handle>>& out) {
  using T = detail::element_of<Handle>;
  return receive_case<T, detail::caller_slot<T>>(
      detail::channel_ref<T>(std::forward<Handle>(channel)), detail::caller_slot<T>{&out}, {});
}

// Receives from `channel` and, if this case is taken, calls `callback` with the value (an
// empty optional if the channel is closed).
template <detail::receivable_handle Handle, class Callback>
requires(
    !std::is_same_v<std::remove_cvref_t<Callback>,
                    std::optional<detail::element_of<Handle>>>) auto on_receive(Handle&& channel,
                                                                                Callback&&
                                                                                    callback) {
  using T = detail::element_of<Handle>;
  return receive_case<T, detail::own_slot<T>, std::decay_t<Callback>>(
      detail::channel_ref<T>(std::forward<Handle>(channel)), {}, std::forward<Callback>(callback));
}

// Receives into `out` and then calls `callback` (with `out`, or with nothing).
template <detail::receivable_handle Handle, class Callback>
auto on_receive(Handle&& channel, std::optional<detail::element_of<Handle>>& out,
                Callback&& callback) {
  using T = detail::element_of<Handle>;
  return receive_case<T, detail::caller_slot<T>, std::decay_t<Callback>>(
      detail::channel_ref<T>(std::forward<Handle>(channel)), detail::caller_slot<T>{&out},
      std::forward<Callback>(callback));
}

// Sends `value` on `channel` if this case is taken.
template <detail::sendable_handle Handle, class Value>
requires std::constructible_from<detail::element_of<Handle>, Value &&> auto on_send(
    Handle&& channel, Value&& value) {
  using T = detail::element_of<Handle>;
  return send_case<T>(detail::channel_ref<T>(std::forward<Handle>(channel)),
                      T(std::forward<Value>(value)), {});
}

// Sends `value` on `channel` and then calls `callback`, if this case is taken.
template <detail::sendable_handle Handle, class Value, class Callback>
requires std::constructible_from<detail::element_of<Handle>, Value &&> auto on_send(
    Handle&& channel, Value&& value, Callback&& callback) {
  using T = detail::element_of<Handle>;
  return send_case<T, std::decay_t<Callback>>(detail::channel_ref<T>(std::forward<Handle>(channel)),
                                              T(std::forward<Value>(value)),
                                              std::forward<Callback>(callback));
}

// The default case: makes a select non-blocking.
inline default_case<> on_default() { return default_case<>(); }
template <class Callback>
auto on_default(Callback&& callback) {
  return default_case<std::decay_t<Callback>>(std::forward<Callback>(callback));
}

namespace detail {

template <class C>
inline constexpr bool is_default_case = false;
template <class Callback>
inline constexpr bool is_default_case<default_case<Callback>> = true;

template <class C>
concept select_argument = std::derived_from<std::remove_cvref_t<C>, select_case> ||
    is_default_case<std::remove_cvref_t<C>>;

// Scratch space for the poll order of a dynamic select: on the stack up to 64 cases.
class order_buffer {
 public:
  explicit order_buffer(std::size_t count) {
    if (count > inline_size) heap_.resize(count);
  }
  std::uint32_t* data() noexcept { return heap_.empty() ? inline_.data() : heap_.data(); }

 private:
  static constexpr std::size_t inline_size = 64;
  std::array<std::uint32_t, inline_size> inline_;
  std::vector<std::uint32_t> heap_;
};

template <class Range>
std::size_t select_range(Range& cases, bool has_default) {
  const std::size_t count = std::ranges::size(cases);
  order_buffer order(count);
  auto* first = std::ranges::data(cases);
  const std::size_t chosen = run_select([first](std::size_t i) -> select_case& { return first[i]; },
                                        count, has_default, order.data());
  if (chosen < count) first[chosen].run_callback();
  return chosen;
}

}  // namespace detail

namespace detail {

template <class C>
concept operation_case = std::derived_from<std::remove_cvref_t<C>, select_case>;
template <class C>
concept inlinable_case = requires(C& c) {
  { c.try_now_inline() } -> std::same_as<bool>;
};
template <class C>
concept default_argument = is_default_case<std::remove_cvref_t<C>>;

// One case and a default, Go's non-blocking send or receive (the compiler's selectnbsend and
// selectnbrecv): no poll order to draw, nothing to queue. Inlined, on the case's own final
// type, down to the channel's lock-free answer (try_send_now and try_receive_now,
// flavors.hpp): SelectNonblock 0.62-0.69x and SelectNonblockReady 0.68-0.76x in A/B.
template <class Case, class Default>
[[gnu::always_inline]] inline bool select_nonblocking(Case& operation, Default& fallback) {
  bool taken = false;
  if (!operation.never_ready()) {
    if constexpr (inlinable_case<Case>) {
      taken = operation.try_now_inline();
    } else {
      taken = operation.try_now();
    }
  }
  if (taken) {
    operation.run_callback();
    return true;
  }
  fallback.run_callback();
  return false;
}

}  // namespace detail

template <detail::operation_case Case, detail::default_argument Default>
[[gnu::always_inline]] inline std::size_t select(Case&& operation, Default&& fallback) {
  return detail::select_nonblocking(operation, fallback) ? 0 : 1;
}
template <detail::default_argument Default, detail::operation_case Case>
[[gnu::always_inline]] inline std::size_t select(Default&& fallback, Case&& operation) {
  return detail::select_nonblocking(operation, fallback) ? 1 : 0;
}

// Takes exactly one of `cases` (see the top of this header) and returns its position among
// the arguments.
template <detail::select_argument... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t defaults =
      (std::size_t{detail::is_default_case<std::remove_cvref_t<Cases>>} + ... + 0);
  static_assert(defaults <= 1, "a select has at most one on_default()");
  constexpr std::size_t count = sizeof...(Cases) - defaults;

  std::array<detail::select_case*, count> list{};
  std::array<std::size_t, count> position{};
  std::size_t default_position = 0;
  void (*run_default)(void*) = nullptr;
  void* default_object = nullptr;
  std::size_t next = 0;
  std::size_t argument = 0;
  [[maybe_unused]] auto add = [&]<class C>(C& c) {
    if constexpr (detail::is_default_case<std::remove_cvref_t<C>>) {
      default_position = argument;
      default_object = &c;
      run_default = [](void* object) {
        static_cast<std::remove_cvref_t<C>*>(object)->run_callback();
      };
    } else {
      list[next] = &c;
      position[next] = argument;
      ++next;
    }
    ++argument;
  };
  (add(cases), ...);

  std::array<std::uint32_t, count> order{};
  if constexpr (count >= 2) {
    // Pass 1 of run_select, written out on the cases' own (final) types: no virtual call
    // between the caller and the channel, which is most of a select that finds a case ready
    // (SelectAsyncContended). When nothing was ready, run_select goes on from pass 2 with
    // this poll order, so the path that blocks polls each case once.
    // Calls `visit(c)` for the case that is the `wanted`-th non-default argument.
    auto at = [&cases...](std::uint32_t wanted, auto&& visit) {
      std::uint32_t index = 0;
      (
          [&]<class C>(C& c) {
            if constexpr (!detail::is_default_case<std::remove_cvref_t<C>>) {
              if (index++ == wanted) visit(c);
            }
          }(cases),
          ...);
    };
    const std::uint32_t live = detail::draw_poll_order(
        count,
        [&at](std::uint32_t i) {
          bool nil = false;
          at(i, [&nil](auto& c) { nil = c.never_ready(); });
          return nil;
        },
        order.data());
    for (std::uint32_t k = 0; k < live; ++k) {
      bool taken = false;
      at(order[k], [&taken](auto& c) {
        if (c.try_now()) {
          c.run_callback();
          taken = true;
        }
      });
      if (taken) return position[order[k]];
    }
    if constexpr (defaults == 1) {
      run_default(default_object);
      return default_position;
    } else {
      const std::size_t chosen =
          detail::run_select([&list](std::size_t i) -> detail::select_case& { return *list[i]; },
                             count, false, order.data(), /*polled=*/true, live);
      list[chosen]->run_callback();
      return position[chosen];
    }
  }
  const std::size_t chosen =
      detail::run_select([&list](std::size_t i) -> detail::select_case& { return *list[i]; }, count,
                         defaults == 1, order.data());
  if (chosen == count) {
    run_default(default_object);
    return default_position;
  }
  list[chosen]->run_callback();
  return position[chosen];
}

// The dynamic form: takes exactly one of a runtime-sized list of cases of one type.
template <std::ranges::contiguous_range Range>
requires std::derived_from<std::ranges::range_value_t<Range>, detail::select_case> std::size_t
select(Range& cases) {
  return detail::select_range(cases, false);
}

// The dynamic form with a default case: returns cases.size() when it takes the default.
template <std::ranges::contiguous_range Range, class Callback>
requires std::derived_from<std::ranges::range_value_t<Range>, detail::select_case> std::size_t
select(Range& cases, default_case<Callback> fallback) {
  const std::size_t chosen = detail::select_range(cases, true);
  if (chosen == std::ranges::size(cases)) fallback.run_callback();
  return chosen;
}

}  // namespace csp
