// compare.cpp: the plain mutex + condition variable queue of bench/compare (see
// bench/compare/README.md): the bounded queue most C++ code bases write by hand, used from plain
// std::threads.
//
//   compare_mutex <workload> [max-messages [target-ms]]
//
// Prints `RESULT <metric> mutex <value> <unit>` lines, or `NA <metric> mutex <reason>` for a
// workload the queue cannot express (it has no select); checks its own result and exits 1 on a
// wrong one.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../harness.hpp"

namespace {

const char* const peer = "mutex";
using message = std::int64_t;

// A bounded FIFO with close, Go's channel semantics minus select. Capacity 0 is a rendezvous:
// one value at a time sits in the queue, and its sender returns only once a receiver took it.
template <class T>
class bounded_queue {
 public:
  explicit bounded_queue(std::size_t capacity) : capacity_(capacity) {}

  // Blocks while the queue is full (for capacity 0: until a receiver took the value); false if
  // the queue is closed.
  bool send(T value) {
    std::unique_lock lock(mutex_);
    // A rendezvous still parks the value here while its sender waits for the receiver.
    const std::size_t room = std::max<std::size_t>(capacity_, 1);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < room; });
    if (closed_) return false;
    items_.push_back(std::move(value));
    const std::uint64_t ticket = ++sent_;
    not_empty_.notify_one();
    if (capacity_ == 0) {
      taken_.wait(lock, [&] { return received_ >= ticket || closed_; });
    }
    return true;
  }

  // Blocks while the queue is empty and open; nullopt once it is closed and empty.
  std::optional<T> receive() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    ++received_;
    lock.unlock();
    not_full_.notify_one();
    // All: the notification comes after the unlock, so the next sender may already wait here
    // too, and a notify_one could wake it instead of the one whose value was taken.
    if (capacity_ == 0) taken_.notify_all();
    return value;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
    taken_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_, taken_;
  std::deque<T> items_;
  std::uint64_t sent_ = 0, received_ = 0;
  bool closed_ = false;
};

class channel_under_test {
 public:
  explicit channel_under_test(std::int64_t capacity) : queue_(static_cast<std::size_t>(capacity)) {}

  class endpoint {
   public:
    explicit endpoint(bounded_queue<message>& queue) : queue_(&queue) {}
    void send(message value) {
      if (!queue_->send(value)) harness::fail("the queue was closed before the last message");
    }
    message receive() {
      const std::optional<message> value = queue_->receive();
      if (!value) harness::fail("the queue was closed before the last message");
      return *value;
    }

   private:
    bounded_queue<message>* queue_;
  };
  endpoint sender() { return endpoint(queue_); }
  endpoint receiver() { return endpoint(queue_); }
  bool drained() {
    queue_.close();
    return !queue_.receive().has_value();
  }

 private:
  bounded_queue<message> queue_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <workload> [max-messages [target-ms]]\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "idle") {
    harness::not_available(name, peer, "no runtime");
    return 0;
  }
  const harness::sizing limits = harness::sizing_arguments(argc, argv);
  const auto workload = harness::parse_channel_workload(name);
  if (!workload) {
    std::fprintf(stderr, "unknown workload %s\n", name.c_str());
    return 2;
  }
  if (workload->kind == harness::shape::select_rx ||
      workload->kind == harness::shape::select_both) {
    harness::not_available(name, peer, "no select");
    return 0;
  }
  harness::thread_launcher launcher;
  const harness::measurement m = harness::measure_transfer(
      workload->kind, workload->capacity, limits, launcher,
      [](std::int64_t capacity) { return std::make_unique<channel_under_test>(capacity); });
  harness::report(name, peer, m);
  return 0;
}
