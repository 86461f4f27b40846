// buffered_vs_unbuffered: how far a channel's buffer lets a producer get ahead of its consumer.
//
// The tutorial: "If the buffer were size 0, the producer would block on the first send until the
// consumer received. The buffer size controls how much the producer can get ahead."
//
// For capacities 0, 1 and 10, a producer sends 30 values as fast as it can to a consumer that
// takes a moment over each one, and after every send it measures its lead: the values it has
// sent minus the values the consumer has asked for. The output is the largest lead seen:
//
//   capacity 0: the producer got at most 0 values ahead of the consumer
//   capacity 1: the producer got at most 1 value ahead of the consumer
//   capacity 10: the producer got at most 10 values ahead of the consumer
//
// With no buffer a send is a hand-off, complete only once the consumer has the value, so the
// producer can never be ahead. With a buffer of N it runs N values ahead, then waits for room.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include "csp/channel.hpp"

namespace {

constexpr int value_count = 30;

// The consumer's work on each value: about two milliseconds of real CPU work (counting the primes
// below 60,000 by trial division), ages next to a send or a thread wake-up, so the consumer is
// always the slow side and the producer runs into whatever limit the channel sets. (Half a
// millisecond was not always enough under ThreadSanitizer with other tests beside it: a
// wake-up that slow lets the consumer catch up, and the producer is then never ahead.) Checking the
// count keeps the optimizer from dropping the loop.
void consume(int /*value*/) {
  int primes = 0;
  for (int n = 2; n < 60'000; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    primes += prime ? 1 : 0;
  }
  if (primes != 6'057) std::abort();  // there are 6,057 primes below 60,000
}

// Runs one producer and one consumer over a channel of `capacity`; returns the largest lead the
// producer had, or -1 if the values did not arrive in order.
int largest_lead(int capacity) {
  csp::channel<int> values(capacity);
  std::atomic<int> asked{0};  // receives the consumer has started
  bool in_order = true;

  std::jthread consumer([values, &asked, &in_order] {
    for (int expected = 1;; ++expected) {
      // Counted before the receive, not after: a send that completes has met this count (the
      // channel orders the receive before the send's completion), whereas a count taken after
      // receive returns could still be on its way and make the producer look one value ahead.
      asked.fetch_add(1);
      const std::optional<int> value = values.receive();
      if (!value) break;  // closed and drained
      if (*value != expected) in_order = false;
      consume(*value);
    }
  });

  int lead = 0;
  for (int sent = 1; sent <= value_count; ++sent) {
    values.send(sent);
    // `sent` values are out; whatever the consumer has not asked for yet is buffered.
    lead = std::max(lead, sent - asked.load());
  }
  values.close();
  consumer.join();  // in_order is written by the consumer; read it only once it has finished
  return in_order ? lead : -1;
}

}  // namespace

int main() {
  std::cout << "A producer sends " << value_count
            << " values as fast as it can to a consumer that takes a moment over each.\n";
  for (int capacity : {0, 1, 10}) {
    const int lead = largest_lead(capacity);
    // A lead above the capacity would mean the channel held more than it has room for.
    if (lead < 0 || lead > capacity) {
      std::cerr << "capacity " << capacity << ": values lost, reordered or over-buffered\n";
      return 1;
    }
    std::cout << "capacity " << capacity << ": the producer got at most " << lead
              << (lead == 1 ? " value" : " values") << " ahead of the consumer\n";
  }
}
