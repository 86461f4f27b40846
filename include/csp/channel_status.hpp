// channel_status.hpp: how a channel operation that may not complete reports what happened.
//
// `channel_status` names every outcome (Boost.Fiber's channel_op_status, plus `canceled` for
// operations bound to a context). `receive_result<T>` is what the receives that can fail for a
// reason other than "closed" return: try_receive (success | empty | closed), receive_for and
// receive_until (success | timeout | closed). It holds the value exactly when status is success.
#pragma once

#include <optional>
#include <string_view>
#include <utility>

namespace csp {

enum class channel_status { success, empty, full, closed, timeout, canceled };

// Returns the status's name, for logs and test messages.
constexpr std::string_view to_string(channel_status status) noexcept {
  switch (status) {
    case channel_status::success:
      return "success";
    case channel_status::empty:
      return "empty";
    case channel_status::full:
      return "full";
    case channel_status::closed:
      return "closed";
    case channel_status::timeout:
      return "timeout";
    case channel_status::canceled:
      return "canceled";
  }
  return "unknown";
}

template <class T>
struct [[nodiscard]] receive_result {
  channel_status status = channel_status::empty;
  std::optional<T> value;  // engaged exactly when status == success

  explicit operator bool() const noexcept { return status == channel_status::success; }
  T& operator*() & { return *value; }
  const T& operator*() const& { return *value; }
  T&& operator*() && { return *std::move(value); }
  T* operator->() { return &*value; }
  const T* operator->() const { return &*value; }
};

}  // namespace csp
