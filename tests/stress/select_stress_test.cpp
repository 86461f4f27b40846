// select_stress_test.cpp: randomized stress of select over small buffered and unbuffered
// channels, with goroutines and plain threads on both ends.
//
// Buffered channels switch between a lock-free regime (nobody waits) and a locked one
// (somebody waits, see detail/channel/buffered.hpp); small capacities make the ring fill and
// drain all the time, so every round crosses that switch thousands of times, from both kinds
// of party, while select registers on and leaves two channels at once.
//
// Untimed sends and receives from goroutines park holding the channel lock and are finished
// by their partner without a CAS (waiter::decided_by::partners_only); they meet selects,
// timed operations and close() here, in every combination.
//
// A round: two channels A and B of random capacities in {0, 1, 2, 5}; producers (half goroutines,
// half threads) send the values (p, 0), (p, 1), ... each through a randomly chosen operation
// (send on A or B, a select of both sends, a select with a default case retried, a send_for
// retried); consumers (same mix) receive with a select over both channels, a try_receive, a
// receive_for or (once one channel is closed) an untimed receive, until both channels are closed
// and drained. After the producers finish, both channels are closed. Checks: every value received
// exactly once, nothing invented, and each consumer saw each producer's values on each channel in
// increasing order.
//
// Environment: CSP_STRESS_SEED, CSP_STRESS_SECONDS as in channel_stress_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/select.hpp"
#include "csp/wait_group.hpp"
#include "support/stress_environment.hpp"

namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

struct token {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;
};

struct received {
  token value;
  int channel;  // 0: A, 1: B
};

// Runs `body` as a goroutine (tracked by `group`) or on a new thread (appended to `threads`).
template <class F>
void start(bool as_goroutine, csp::wait_group& group, std::vector<std::thread>& threads, F body) {
  if (as_goroutine) {
    group.go(std::move(body));
  } else {
    threads.emplace_back(std::move(body));
  }
}

void produce(std::uint64_t seed, std::uint32_t id, std::uint32_t items, csp::channel<token> a,
             csp::channel<token> b) {
  std::mt19937_64 random(seed);
  for (std::uint32_t seq = 0; seq < items; ++seq) {
    const token value{id, seq};
    switch (random() % 5) {
      case 0:
        a.send(value);
        break;
      case 1:
        b.send(value);
        break;
      case 2:
        csp::select(csp::on_send(a, value), csp::on_send(b, value));
        break;
      case 3:  // non-blocking, retried: exercises the lock-free "would block" answers
        while (csp::select(csp::on_send(a, value), csp::on_send(b, value), csp::on_default()) ==
               2) {
          csp::yield();
        }
        break;
      default:
        while (!a.send_for(value, std::chrono::microseconds(random() % 100))) {
        }
        break;
    }
  }
}

std::vector<received> consume(std::uint64_t seed, csp::channel<token> a, csp::channel<token> b) {
  std::mt19937_64 random(seed);
  std::vector<received> got;
  bool a_open = true;
  bool b_open = true;
  while (a_open || b_open) {
    const unsigned choice = static_cast<unsigned>(random() % 5);
    if (choice <= 1) {
      std::optional<token> from_a;
      std::optional<token> from_b;
      // A closed channel's case is switched off by making it nil, as in Go.
      const std::size_t taken =
          csp::select(csp::on_receive(a_open ? a : csp::channel<token>{nullptr}, from_a),
                      csp::on_receive(b_open ? b : csp::channel<token>{nullptr}, from_b));
      if (taken == 0) {
        if (from_a)
          got.push_back({*from_a, 0});
        else
          a_open = false;
      } else {
        if (from_b)
          got.push_back({*from_b, 1});
        else
          b_open = false;
      }
    } else {
      const int which = a_open && (!b_open || choice == 2) ? 0 : 1;
      csp::channel<token>& channel = which == 0 ? a : b;
      // An untimed receive only once the other channel is closed, which happens after every
      // producer has finished: earlier, consumers all waiting on A while producers wait on B
      // would be a deadlock of the test itself.
      if (choice == 4 && !(a_open && b_open)) {
        if (const std::optional<token> value = channel.receive()) {
          got.push_back({*value, which});
        } else {
          (which == 0 ? a_open : b_open) = false;
        }
        continue;
      }
      const auto result =
          choice == 2 ? channel.try_receive() : channel.receive_for(std::chrono::microseconds(50));
      if (result) {
        got.push_back({*result, which});
      } else if (result.status == csp::channel_status::closed) {
        (which == 0 ? a_open : b_open) = false;
      }
    }
  }
  return got;
}

TEST(SelectStress, BufferedChannelsBetweenGoroutinesAndThreads) {
  const std::uint64_t seed = csp::testing::stress_seed();
  const double budget = csp::testing::stress_seconds();
  csp::testing::announce_stress("SelectStress", seed, budget);
  std::mt19937_64 plan(seed);
  const auto deadline = steady_clock::now() + std::chrono::duration<double>(budget);
  const std::size_t capacities[] = {0, 1, 2, 5};
  std::uint64_t rounds = 0;
  std::uint64_t total = 0;
  do {
    const std::size_t capacity_a = capacities[plan() % 4];
    const std::size_t capacity_b = capacities[plan() % 4];
    const std::uint32_t producers = 1 + static_cast<std::uint32_t>(plan() % 4);
    const std::uint32_t consumers = 1 + static_cast<std::uint32_t>(plan() % 4);
    const std::uint32_t items = 1 + static_cast<std::uint32_t>(plan() % 2000);
    csp::channel<token> a(capacity_a);
    csp::channel<token> b(capacity_b);

    csp::wait_group producing;
    std::vector<std::thread> producer_threads;
    for (std::uint32_t p = 0; p < producers; ++p) {
      const std::uint64_t party_seed = plan();
      start(plan() % 2 == 0, producing, producer_threads,
            [=] { produce(party_seed, p, items, a, b); });
    }
    std::vector<std::vector<received>> got(consumers);
    csp::wait_group consuming;
    std::vector<std::thread> consumer_threads;
    for (std::uint32_t c = 0; c < consumers; ++c) {
      const std::uint64_t party_seed = plan();
      start(plan() % 2 == 0, consuming, consumer_threads,
            [=, &got] { got[c] = consume(party_seed, a, b); });
    }
    for (std::thread& t : producer_threads) t.join();
    producing.wait();
    a.close();
    b.close();
    for (std::thread& t : consumer_threads) t.join();
    consuming.wait();

    std::vector<std::vector<int>> seen(producers, std::vector<int>(items, 0));
    for (const auto& list : got) {
      // Per producer and channel, the last seq this consumer saw (order check).
      std::vector<std::int64_t> last(2 * producers, -1);
      for (const received& r : list) {
        ASSERT_LT(r.value.producer, producers) << "invented value, seed " << seed;
        ASSERT_LT(r.value.seq, items) << "invented value, seed " << seed;
        ++seen[r.value.producer][r.value.seq];
        std::int64_t& previous = last[2 * r.value.producer + r.channel];
        ASSERT_LT(previous, std::int64_t{r.value.seq})
            << "out of order on channel "
            << "AB"[r.channel] << ", producer " << r.value.producer << ", seed " << seed;
        previous = r.value.seq;
      }
    }
    for (std::uint32_t p = 0; p < producers; ++p) {
      for (std::uint32_t s = 0; s < items; ++s) {
        ASSERT_EQ(seen[p][s], 1) << "value (" << p << ", " << s << ") received " << seen[p][s]
                                 << " times, round " << rounds << ", seed " << seed;
      }
    }
    ++rounds;
    total += std::uint64_t{producers} * items;
  } while (steady_clock::now() < deadline);
  std::cout << "[ stress   ] SelectStress: " << rounds << " rounds, " << total
            << " values, each received exactly once and in order" << std::endl;
}

}  // namespace
