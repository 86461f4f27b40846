// timeouts: a tour of the channel operations that do not wait forever.
//
// Go spells these with select: a default case for "don't wait" and a case on time.After for
// "wait this long". Until csp::select arrives, csp has them as methods:
//
//   try_send(v)            select { case ch <- v: ... default: ... }
//   try_receive()          select { case v, ok := <-ch: ... default: ... }
//   send_for(v, d)         select { case ch <- v: ... case <-time.After(d): ... }
//   receive_for(d)         select { case v, ok := <-ch: ... case <-time.After(d): ... }
//   send_until / receive_until: the same with a deadline instead of a duration.
//
// A send reports whether it happened (bool); a receive returns a receive_result whose status
// tells success from empty, timeout and closed, and which holds the value on success.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "csp/channel.hpp"

using namespace std::chrono_literals;

namespace {

// Prints what a receive reported, and the value when there was one.
template <class T>
void show(const char* what, const csp::receive_result<T>& result) {
  std::cout << what << ": " << csp::to_string(result.status);
  if (result) std::cout << ", value " << *result;
  std::cout << '\n';
}

// Says how long an operation that began at `start` took to give up, in terms of its `limit`.
// The exact time depends on the machine, so the tour prints only what is guaranteed: a wait
// that ends in a timeout lasts at least as long as it was told to.
std::string gave_up(std::chrono::steady_clock::time_point start, std::chrono::milliseconds limit) {
  const bool waited = std::chrono::steady_clock::now() - start >= limit;
  return waited ? " after at least " + std::to_string(limit.count()) + " ms"
                : " too early, before " + std::to_string(limit.count()) + " ms";
}

}  // namespace

int main() {
  std::cout << std::boolalpha;  // a send reports whether it happened: print true and false
  // One slot, so it is easy to make the channel full and empty on purpose.
  csp::channel<int> mailbox(1);

  std::cout << "-- try_*: never wait\n";
  show("try_receive on an empty channel", mailbox.try_receive());
  std::cout << "try_send(1) with room in the buffer: " << mailbox.try_send(1) << '\n';
  std::cout << "try_send(2) on a full buffer: " << mailbox.try_send(2) << '\n';

  std::cout << "-- *_for: wait, but only so long\n";
  auto start = std::chrono::steady_clock::now();
  const bool sent = mailbox.send_for(2, 50ms);  // the buffer is full and nobody receives
  std::cout << "send_for(2, 50ms) on a full buffer: " << sent << gave_up(start, 50ms) << '\n';
  show("receive_for(1s) with a value buffered", mailbox.receive_for(1s));  // returns at once
  start = std::chrono::steady_clock::now();
  const auto nothing = mailbox.receive_for(30ms);
  std::cout << "receive_for(30ms) on an empty channel: " << csp::to_string(nothing.status)
            << gave_up(start, 30ms) << '\n';

  // A value that arrives while the receiver waits: the wait ends with it, not at the deadline.
  // The sleep plays a slow peer; it is what makes the receiver wait at all.
  {
    std::jthread late_sender([mailbox] {
      std::this_thread::sleep_for(20ms);
      mailbox.send(3);
    });
    show("receive_for(10s) while a sender is 20 ms away", mailbox.receive_for(10s));
  }

  // A deadline suits a batch: collect whatever arrives before it, however many waits it takes.
  {
    std::jthread sender([mailbox] {
      for (int i = 4; i <= 6; ++i) mailbox.send(i);
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    int total = 0;
    for (int i = 0; i < 3; ++i) {
      if (auto result = mailbox.receive_until(deadline)) total += *result;
    }
    std::cout << "receive_until(one deadline) three times: total " << total << '\n';
  }

  std::cout << "-- a failed send leaves the value with the caller\n";
  // Handing over an rvalue is not giving it away: only a send that happens moves from it. That
  // is what lets a caller retry, keep or reroute a move-only value after a timeout.
  csp::channel<std::unique_ptr<std::string>> handoff;  // unbuffered, and nobody receives
  auto letter = std::make_unique<std::string>("hello");
  const bool delivered = handoff.send_for(std::move(letter), 10ms);
  std::cout << "send_for(letter, 10ms) with no receiver: " << delivered << ", letter still holds \""
            << *letter << "\"\n";  // NOLINT(bugprone-use-after-move)

  std::cout << "-- closed and nil channels\n";
  mailbox.send(7);
  mailbox.close();
  show("try_receive after close, value still buffered", mailbox.try_receive());
  show("try_receive after close, drained", mailbox.try_receive());
  show("receive_for(10s) after close, drained", mailbox.receive_for(10s));  // does not wait
  try {
    // A timeout does not make sending on a closed channel less of a bug: Go panics, csp throws.
    (void)mailbox.send_for(8, 10ms);
  } catch (const csp::panic_error& error) {
    std::cout << "send_for on a closed channel throws panic_error: " << error.what() << '\n';
  }
  // A nil channel is never ready and never closed, so a bounded wait on it simply times out.
  csp::channel<int> nil{nullptr};
  show("receive_for(10ms) on a nil channel", nil.receive_for(10ms));
}
