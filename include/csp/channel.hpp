// channel.hpp: typed channels, Go's `chan T`, and their send-only and receive-only views.
//
//   csp::channel<int> jobs(100);    // buffered, capacity 100      (Go: make(chan int, 100))
//   csp::channel<int> hand;         // unbuffered: a rendezvous    (Go: make(chan int))
//   csp::channel<int> off{nullptr}; // nil: every operation blocks forever, close throws
//   csp::sender<int>   out = jobs;  // send-only view              (Go: chan<- int)
//   csp::receiver<int> in  = jobs;  // receive-only view           (Go: <-chan int)
//
// A channel is a shared handle: copies refer to the same channel, == compares identity, and the
// channel lives until its last handle is gone. Any number of threads and goroutines may use one
// channel at once. A view has only its direction's operations: receiving from a sender, sending
// on or closing a receiver, or ranging over a sender does not compile.
//
// Semantics are Go's (see docs/design.md for the table with sources):
//   - send blocks while the buffer is full (always, for capacity 0, until a receiver takes the
//     value); it throws panic_error("send on closed channel") on a closed channel, also when it
//     was blocked at the moment of close.
//   - receive blocks while the buffer is empty; after close it drains the buffered values in
//     order and then returns an empty optional, forever.
//   - close() throws panic_error("close of closed channel") the second time and
//     panic_error("close of nil channel") on nil; it wakes every blocked party on both sides.
//   - values come out in the order their sends completed; blocked senders and receivers are
//     served in arrival order.
//   - try_* never block; *_for / *_until give up at the deadline and report a timeout as a
//     result, never as an exception. A send that does not happen leaves the caller's value
//     untouched.
//   - send(v, ctx) and receive(ctx) also give up when a csp::context ends (csp/context.hpp):
//     false, or channel_status::canceled — never confused with closed;
//   - a capacity below 0 or too large to allocate throws panic_error("makechan: size out of
//     range").
//
// Memory ordering (Go's memory model, MM-1..4): a send happens before the completion of the
// receive that gets its value; close() happens before a receive that reports the channel closed;
// on an unbuffered channel a receive happens before the completion of the matching send; on a
// channel of capacity C the k-th receive happens before the completion of the (k+C)-th send.
//
// Values: T must be move-constructible; it needs no default constructor and may be move-only.
// If moving (or, for types whose move may throw, copying) a T throws during an operation, the
// exception reaches the caller and the channel is unchanged: no value is lost or duplicated.
//
// Lifetime: values still buffered when the last handle goes are destroyed with the channel.
#pragma once

#include <chrono>
#include <compare>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "csp/channel_status.hpp"
#include "csp/detail/channel/flavors.hpp"
#include "csp/panic_error.hpp"

namespace csp {

template <class T>
class channel;
template <class T>
class sender;
template <class T>
class receiver;
class context;  // csp/context.hpp

namespace detail {

// The operations bound to a context; defined in csp/context.hpp, which a caller holding a
// context has included.
template <class T, class Handle>
receive_result<T> receive_with_context(const Handle& channel, const context& ctx);
template <class T, class Handle>
bool send_with_context(const Handle& channel, T& value, const context& ctx);

// Blocks the calling party until `deadline` (forever by default): what every operation on a
// nil channel does. `sending` tells diagnostics which operation it was.
void block_on_nil(steady_time deadline, bool sending);

// Durations and time points are compared in long double seconds before any conversion to
// steady_clock's nanoseconds, so that hours::max() or a system_clock time point far in the
// future means "never" instead of overflowing into the past.
using seconds_fp = std::chrono::duration<long double>;

template <class Rep, class Period>
steady_time deadline_after(const std::chrono::duration<Rep, Period>& duration) {
  const auto now = std::chrono::steady_clock::now();
  if (duration <= duration.zero()) return now;
  if (seconds_fp(duration) >= seconds_fp(no_deadline - now)) return no_deadline;
  return now + std::chrono::ceil<std::chrono::steady_clock::duration>(duration);
}

template <class Clock, class Duration>
steady_time to_steady(const std::chrono::time_point<Clock, Duration>& time_point) {
  if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
    if (seconds_fp(time_point.time_since_epoch()) >= seconds_fp(no_deadline.time_since_epoch())) {
      return no_deadline;
    }
    return std::chrono::ceil<std::chrono::steady_clock::duration>(time_point);
  } else {
    return deadline_after(seconds_fp(time_point.time_since_epoch()) -
                          seconds_fp(Clock::now().time_since_epoch()));
  }
}

struct handle_access;

// The state every handle shares: a pointer to the channel's core, null for a nil channel.
template <class T>
class channel_handle {
 public:
  // Returns the number of values in the buffer (Go's len): 0 for capacity 0 and for nil.
  std::size_t size() const noexcept { return core_ ? core_->size() : 0; }
  // Returns the buffer's capacity (Go's cap): 0 for unbuffered and nil channels.
  std::size_t capacity() const noexcept { return core_ ? core_->capacity() : 0; }

  friend bool operator==(const channel_handle& a, const channel_handle& b) noexcept {
    return a.core_ == b.core_;
  }
  friend bool operator==(const channel_handle& a, std::nullptr_t) noexcept {
    return a.core_ == nullptr;
  }

 protected:
  channel_handle() = default;
  explicit channel_handle(std::shared_ptr<channel_core<T>> core) noexcept
      : core_(std::move(core)) {}

  std::shared_ptr<channel_core<T>> core_;

 private:
  friend struct handle_access;
};

// Lets the rest of csp (select, timers) reach a handle's core without making it public API.
struct handle_access {
  template <class T>
  static channel_core<T>* core(const channel_handle<T>& handle) noexcept {
    return handle.core_.get();
  }
  template <class T>
  static const std::shared_ptr<channel_core<T>>& shared_core(
      const channel_handle<T>& handle) noexcept {
    return handle.core_;
  }
  template <class Handle, class T>
  static Handle make(std::shared_ptr<channel_core<T>> core) {
    Handle handle(nullptr);
    static_cast<channel_handle<T>&>(handle).core_ = std::move(core);
    return handle;
  }
};

// The send half of the API, shared by channel<T> and sender<T>.
template <class T, class Handle>
class send_operations {
 public:
  // Sends `value`, blocking until the channel takes it.
  void send(T&& value) const { send_until_impl(value, no_deadline); }
  void send(const T& value) const requires std::copy_constructible<T> {
    T copy(value);
    send_until_impl(copy, no_deadline);
  }

  // Sends `value` if that needs no waiting; false leaves `value` untouched. Throws panic_error
  // on a closed channel, as Go's select with a default case panics.
  [[nodiscard]] bool try_send(T&& value) const { return try_send_impl(value); }
  [[nodiscard]] bool try_send(const T& value) const requires std::copy_constructible<T> {
    if (core() == nullptr) return false;
    T copy(value);
    return try_send_impl(copy);
  }

  // Sends `value` unless `timeout` elapses first; false (timeout) leaves `value` untouched.
  // Throws panic_error on a closed channel, as send() does.
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(T&& value, const std::chrono::duration<Rep, Period>& timeout) const {
    return send_until_impl(value, deadline_after(timeout));
  }
  template <class Rep, class Period>
  [[nodiscard]] bool send_for(const T& value, const std::chrono::duration<Rep, Period>& timeout)
      const requires std::copy_constructible<T> {
    T copy(value);
    return send_until_impl(copy, deadline_after(timeout));
  }

  // Sends `value` unless `deadline` passes first; false (timeout) leaves `value` untouched.
  template <class Clock, class Duration>
  [[nodiscard]] bool send_until(T&& value,
                                const std::chrono::time_point<Clock, Duration>& deadline) const {
    return send_until_impl(value, to_steady(deadline));
  }
  template <class Clock, class Duration>
  [[nodiscard]] bool send_until(const T& value,
                                const std::chrono::time_point<Clock, Duration>& deadline)
      const requires std::copy_constructible<T> {
    T copy(value);
    return send_until_impl(copy, to_steady(deadline));
  }

  // Sends `value` unless `ctx` ends first (see csp/context.hpp). False: ctx had ended, or
  // ended while the send waited (ctx.err() says why); the value was not sent and is left
  // untouched. Throws panic_error on a closed channel, as send() does.
  [[nodiscard]] bool send(T&& value, const context& ctx) const {
    return send_with_context<T>(static_cast<const Handle&>(*this), value, ctx);
  }
  [[nodiscard]] bool send(const T& value,
                          const context& ctx) const requires std::copy_constructible<T> {
    T copy(value);
    return send_with_context<T>(static_cast<const Handle&>(*this), copy, ctx);
  }

  // Closes the channel: no more sends; receivers drain what is buffered, then see it closed.
  void close() const {
    if (core() == nullptr) throw_panic("close of nil channel");
    core()->close();
  }

 private:
  channel_core<T>* core() const noexcept { return static_cast<const Handle&>(*this).core_.get(); }

  bool send_until_impl(T& value, steady_time deadline) const {
    if (core() == nullptr) {
      block_on_nil(deadline, true);
      return false;
    }
    return core()->send(value, deadline);
  }
  bool try_send_impl(T& value) const {
    return core() != nullptr && detail::try_send_now(*core(), value);
  }
};

template <class T>
class receive_iterator;

// The receive half of the API, shared by channel<T> and receiver<T>.
template <class T, class Handle>
class receive_operations {
 public:
  // Receives the next value, blocking until there is one; empty once the channel is closed and
  // drained (Go's v, ok := <-ch with ok == false).
  std::optional<T> receive() const {
    std::optional<T> value;
    receive_until_impl(value, no_deadline);
    return value;
  }

  // Receives the next value unless `ctx` ends first (see csp/context.hpp): success, closed
  // (closed and drained) or canceled (ctx had ended, or ended while it waited; ctx.err() says
  // why). A ready value costs one check of ctx more than receive().
  receive_result<T> receive(const context& ctx) const {
    return receive_with_context<T>(static_cast<const Handle&>(*this), ctx);
  }

  // Receives a value if that needs no waiting: success, empty or closed.
  receive_result<T> try_receive() const {
    receive_result<T> result;
    result.status =
        core() == nullptr ? channel_status::empty : detail::try_receive_now(*core(), result.value);
    return result;
  }

  // Receives a value unless `timeout` elapses first: success, timeout or closed.
  template <class Rep, class Period>
  receive_result<T> receive_for(const std::chrono::duration<Rep, Period>& timeout) const {
    receive_result<T> result;
    result.status = receive_until_impl(result.value, deadline_after(timeout));
    return result;
  }

  // Receives a value unless `deadline` passes first: success, timeout or closed.
  template <class Clock, class Duration>
  receive_result<T> receive_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    receive_result<T> result;
    result.status = receive_until_impl(result.value, to_steady(deadline));
    return result;
  }

  // Ranges over the values until the channel is closed and drained (Go's for v := range ch).
  // Leaving the loop early leaves the remaining values in the channel.
  receive_iterator<T> begin() const { return receive_iterator<T>(core()); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  channel_core<T>* core() const noexcept { return static_cast<const Handle&>(*this).core_.get(); }

  channel_status receive_until_impl(std::optional<T>& out, steady_time deadline) const {
    if (core() == nullptr) {
      block_on_nil(deadline, false);
      return channel_status::timeout;
    }
    return core()->receive(out, deadline);
  }
};

// An input iterator that receives on each increment; equal to the sentinel once the channel is
// closed and drained.
template <class T>
class receive_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  receive_iterator() = default;
  explicit receive_iterator(channel_core<T>* core) : core_(core) { advance(); }

  T& operator*() const { return *current_; }
  T* operator->() const { return &*current_; }
  receive_iterator& operator++() {
    advance();
    return *this;
  }
  void operator++(int) { advance(); }
  friend bool operator==(const receive_iterator& it, std::default_sentinel_t) noexcept {
    return !it.current_.has_value();
  }

 private:
  void advance() {
    current_.reset();
    if (core_ == nullptr) {
      block_on_nil(no_deadline, false);
      return;
    }
    core_->receive(current_, no_deadline);
  }

  channel_core<T>* core_ = nullptr;
  mutable std::optional<T> current_;
};

}  // namespace detail

// A bidirectional channel of T values.
template <class T>
class channel : public detail::channel_handle<T>,
                public detail::send_operations<T, channel<T>>,
                public detail::receive_operations<T, channel<T>> {
  static_assert(std::is_move_constructible_v<T>, "a channel's element type must be movable");
  static_assert(std::is_object_v<T> && !std::is_const_v<T>,
                "a channel carries non-const object types");

 public:
  using value_type = T;

  // Creates an unbuffered channel (Go: make(chan T)).
  channel() : detail::channel_handle<T>(detail::make_channel_core<T>(0)) {}

  // Creates a channel with room for `capacity` values (Go: make(chan T, capacity)); 0 makes an
  // unbuffered one. Throws panic_error("makechan: size out of range") for a negative capacity
  // or one whose buffer cannot be allocated. A template, so that channel<int> c(0) means
  // capacity 0 and never the nil channel.
  template <std::integral Integer>
  requires(!std::same_as<Integer, bool>) explicit channel(Integer capacity)
      : detail::channel_handle<T>(detail::make_channel_core<T>(checked_capacity(capacity))) {}

  // Creates a nil channel: sends and receives block forever, close throws.
  channel(std::nullptr_t) noexcept {}

  using detail::channel_handle<T>::size;
  using detail::channel_handle<T>::capacity;

 private:
  friend class detail::send_operations<T, channel<T>>;
  friend class detail::receive_operations<T, channel<T>>;
  friend class sender<T>;
  friend class receiver<T>;

  template <class Integer>
  static std::size_t checked_capacity(Integer capacity) {
    // Go's bound for a channel buffer (maxAlloc on 64-bit Linux).
    constexpr std::uint64_t max_bytes = std::uint64_t{1} << 48;
    if constexpr (std::is_signed_v<Integer>) {
      if (capacity < 0) detail::throw_panic("makechan: size out of range");
    }
    const auto requested = static_cast<std::uint64_t>(capacity);
    if (requested > max_bytes / sizeof(T)) detail::throw_panic("makechan: size out of range");
    return static_cast<std::size_t>(requested);
  }
};

// A send-only view of a channel (Go: chan<- T). Converts implicitly from channel<T>.
template <class T>
class sender : public detail::channel_handle<T>, public detail::send_operations<T, sender<T>> {
 public:
  using value_type = T;

  // A nil sender.
  sender(std::nullptr_t = nullptr) noexcept {}
  sender(const channel<T>& channel) noexcept : detail::channel_handle<T>(channel.core_) {}

 private:
  friend class detail::send_operations<T, sender<T>>;
};

// A receive-only view of a channel (Go: <-chan T). Converts implicitly from channel<T>.
template <class T>
class receiver : public detail::channel_handle<T>,
                 public detail::receive_operations<T, receiver<T>> {
 public:
  using value_type = T;

  // A nil receiver.
  receiver(std::nullptr_t = nullptr) noexcept {}
  receiver(const channel<T>& channel) noexcept : detail::channel_handle<T>(channel.core_) {}

  // Go compares two channel values only if one is assignable to the other's type, and neither
  // <-chan T nor chan<- T is assignable to the other: comparing a receiver with a sender does
  // not compile (each may be compared with the channel<T> both came from).
  // (A template, so that nullptr, which converts to sender<T>, never picks it.)
  template <class Other>
  requires std::same_as<Other, sender<T>>
  friend bool operator==(const receiver&, const Other&) = delete;

 private:
  friend class detail::receive_operations<T, receiver<T>>;
};

}  // namespace csp
