// channel_stress_test.cpp: randomized many-producer, many-consumer stress of csp::channel.
//
// Each test runs rounds until its time budget is spent. A round puts P producer threads and C
// consumer threads on one channel. Producer p sends the values (p, 0), (p, 1), ... in order,
// each with a randomly chosen operation (send by move or by copy, try_send, send_for,
// send_until); consumers receive with a random mix of receive, try_receive, receive_for,
// receive_until and range-for until they see the channel closed. Every producer records which
// of its values were sent: a send that returned true or did not throw sent its value; one that
// timed out, found no room, or threw (panic_error after close, or T's copy failing) did not.
// After the round the test checks that every sent value was received exactly once, that no
// value that was not sent was received, and that each consumer saw each producer's values in
// increasing order (a channel delivers in the order sends completed, and one producer's sends
// complete in its order).
//
// Rounds end in one of two ways: a closer thread closes the channel after a random number of
// successful sends, while producers are still sending (they must then get panic_error("send on
// closed channel") and stop); or every producer finishes and then the channel is closed, and
// the totals must be exact.
//
// Environment:
//   CSP_STRESS_SEED     the seed (decimal or 0x hex); random by default. Every test prints the
//                       seed it used, and failures repeat it. Thread interleavings are not
//                       reproducible, but the plan of rounds (shapes, item counts, close
//                       points) and every party's choice of operations are.
//   CSP_STRESS_SECONDS  the time budget of each test (default 2). Rounds are sized from the
//                       throughput measured so far, so a slow build (TSan) runs fewer items in
//                       about the same time instead of running longer.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "support/stress_environment.hpp"

namespace {

using std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Configuration and randomness

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class random_source {
 public:
  explicit random_source(std::uint64_t seed) : engine_(seed) {}

  std::uint64_t next() { return engine_(); }
  // Uniform in [low, high].
  std::uint64_t between(std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(engine_);
  }
  std::uint64_t below(std::uint64_t bound) { return between(0, bound - 1); }
  bool chance(double probability) { return std::bernoulli_distribution(probability)(engine_); }
  // A small timeout: zero one time in eight (the "try once" edge), else up to 200 us.
  std::chrono::microseconds small_timeout() {
    if (below(8) == 0) return std::chrono::microseconds(0);
    return std::chrono::microseconds(between(1, 200));
  }

 private:
  std::mt19937_64 engine_;
};

// ---------------------------------------------------------------------------------------------
// Value types

// A plain value: which producer sent it, and its position in that producer's sequence.
struct token {
  std::uint32_t producer = 0;
  std::uint32_t seq = 0;

  bool intact() const noexcept { return true; }
};

// A value whose copy and move constructors throw now and then, while armed. The move is not
// noexcept, so the channel copies it (std::move_if_noexcept), which keeps the source intact
// when the copy throws. A canary catches use of a destroyed or never-constructed object, and a
// live count catches values that the channel leaks or destroys twice.
struct flaky_error : std::runtime_error {
  flaky_error() : std::runtime_error("flaky: copy failed") {}
};

std::atomic<bool> flaky_armed{false};
std::atomic<std::int64_t> flaky_live{0};
thread_local std::minstd_rand flaky_engine{1};
constexpr std::uint32_t flaky_per_mille = 10;  // 1% of copies and moves throw

class flaky {
 public:
  flaky(std::uint32_t producer_id, std::uint32_t seq_no) noexcept
      : producer(producer_id), seq(seq_no) {
    flaky_live.fetch_add(1, std::memory_order_relaxed);
  }
  flaky(const flaky& other) : producer(other.producer), seq(other.seq) {
    maybe_throw();
    flaky_live.fetch_add(1, std::memory_order_relaxed);
  }
  flaky(flaky&& other) : producer(other.producer), seq(other.seq) {  // NOLINT: may throw
    maybe_throw();
    flaky_live.fetch_add(1, std::memory_order_relaxed);
  }
  flaky& operator=(const flaky&) = delete;
  flaky& operator=(flaky&&) = delete;
  ~flaky() {
    if (canary_ != alive) flaky_corrupt.fetch_add(1, std::memory_order_relaxed);
    canary_ = dead;
    flaky_live.fetch_sub(1, std::memory_order_relaxed);
  }

  bool intact() const noexcept { return canary_ == alive; }

  static inline std::atomic<std::int64_t> flaky_corrupt{0};

  std::uint32_t producer;
  std::uint32_t seq;

 private:
  static constexpr std::uint32_t alive = 0x600df00d;
  static constexpr std::uint32_t dead = 0xdeadbeef;

  static void maybe_throw() {
    if (flaky_armed.load(std::memory_order_relaxed) && flaky_engine() % 1000 < flaky_per_mille) {
      throw flaky_error();
    }
  }

  std::uint32_t canary_ = alive;
};

static_assert(!std::is_nothrow_move_constructible_v<flaky>);

// Arms flaky copies for the round's duration, on every thread.
class flaky_arming {
 public:
  explicit flaky_arming(bool arm) : armed_(arm) {
    if (armed_) flaky_armed.store(true, std::memory_order_relaxed);
  }
  ~flaky_arming() {
    if (armed_) flaky_armed.store(false, std::memory_order_relaxed);
  }
  flaky_arming(const flaky_arming&) = delete;
  flaky_arming& operator=(const flaky_arming&) = delete;

 private:
  bool armed_;
};

// ---------------------------------------------------------------------------------------------
// One round

enum class ending {
  close_midway,           // a closer closes while producers are still sending
  close_after_producers,  // every producer finishes, then the channel is closed
};

struct round_plan {
  std::size_t capacity = 0;
  int producers = 1;
  int consumers = 1;
  std::uint32_t items = 1;  // per producer
  ending how = ending::close_after_producers;
  std::uint64_t close_after = 0;  // close_midway: successful sends before the close
  bool may_give_up = false;       // a timed-out or throwing send may abandon its value
  std::uint64_t seed = 0;
};

std::string describe(const round_plan& plan) {
  std::ostringstream text;
  text << "round{capacity " << plan.capacity << ", " << plan.producers << " producers x "
       << plan.consumers << " consumers, " << plan.items << " items each, "
       << (plan.how == ending::close_midway
               ? "close after " + std::to_string(plan.close_after) + " sends"
               : std::string("close after producers finish"))
       << (plan.may_give_up ? ", may give up values" : "") << ", seed " << plan.seed << "}";
  return text.str();
}

struct counters {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t given_up = 0;  // values a producer abandoned (not sent)
  std::uint64_t timeouts = 0;  // send_for/send_until/receive_for/receive_until timeouts
  std::uint64_t panics = 0;    // sends that met the close
  std::uint64_t throws = 0;    // flaky copies that threw inside channel operations
  std::uint64_t rounds = 0;

  void add(const counters& other) {
    sent += other.sent;
    received += other.received;
    given_up += other.given_up;
    timeouts += other.timeouts;
    panics += other.panics;
    throws += other.throws;
    rounds += other.rounds;
  }
};

// Collects failures from any thread, keeping the first few.
class error_log {
 public:
  void add(std::string text) {
    const std::lock_guard lock(mutex_);
    ++count_;
    if (texts_.size() < 12) texts_.push_back(std::move(text));
  }
  std::size_t count() const {
    const std::lock_guard lock(mutex_);
    return count_;
  }
  std::vector<std::string> texts() const {
    const std::lock_guard lock(mutex_);
    return texts_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> texts_;
  std::size_t count_ = 0;
};

struct shared_state {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<int> producers_done{0};
};

enum class send_outcome { sent, no_room, timed_out, closed, threw };

template <class T>
send_outcome attempt_send(const csp::sender<T>& out, T& value, random_source& random,
                          error_log& errors) {
  try {
    switch (random.below(6)) {
      case 0:
        out.send(std::move(value));
        return send_outcome::sent;
      case 1:
        out.send(std::as_const(value));
        return send_outcome::sent;
      case 2:
        if (out.try_send(std::move(value))) return send_outcome::sent;
        std::this_thread::yield();
        return send_outcome::no_room;
      case 3:
        return out.send_for(std::move(value), random.small_timeout()) ? send_outcome::sent
                                                                      : send_outcome::timed_out;
      case 4:
        return out.send_until(std::move(value), steady_clock::now() + random.small_timeout())
                   ? send_outcome::sent
                   : send_outcome::timed_out;
      default:
        return out.send_until(std::move(value),
                              std::chrono::system_clock::now() + random.small_timeout())
                   ? send_outcome::sent
                   : send_outcome::timed_out;
    }
  } catch (const csp::panic_error& e) {
    if (std::string(e.what()) != "send on closed channel") {
      errors.add(std::string("send threw panic_error with unexpected text \"") + e.what() + "\"");
    }
    return send_outcome::closed;
  } catch (const flaky_error&) {
    return send_outcome::threw;
  }
}

template <class T>
void produce(const csp::sender<T> out, const std::uint32_t id, const round_plan& plan,
             shared_state& shared, std::vector<std::uint8_t>& sent, counters& tally,
             error_log& errors) {
  random_source random(splitmix64(plan.seed ^ (0x100000 + id)));
  flaky_engine.seed(static_cast<std::uint32_t>(random.next() | 1));
  bool closed = false;
  for (std::uint32_t seq = 0; seq < plan.items && !closed; ++seq) {
    T value{id, seq};
    for (;;) {
      const send_outcome outcome = attempt_send(out, value, random, errors);
      if (outcome == send_outcome::sent) {
        sent[seq] = 1;
        ++tally.sent;
        shared.sent.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (!value.intact()) {
        errors.add("producer " + std::to_string(id) + ": a send that did not happen damaged " +
                   "value " + std::to_string(seq));
      }
      if (outcome == send_outcome::closed) {
        if (plan.how != ending::close_midway) {
          errors.add("producer " + std::to_string(id) + ": send on closed channel before " +
                     "the producers finished");
        }
        ++tally.panics;
        closed = true;
        break;
      }
      if (outcome == send_outcome::timed_out) ++tally.timeouts;
      if (outcome == send_outcome::threw) ++tally.throws;
      if (outcome != send_outcome::no_room && plan.may_give_up && random.chance(0.5)) {
        ++tally.given_up;  // this value was not sent; go on with the next one
        break;
      }
    }
  }
  if (closed) {
    // Closed stays closed: a later send must throw as well, and must not send.
    T value{id, plan.items};
    try {
      (void)out.try_send(std::move(value));
      errors.add("producer " + std::to_string(id) + ": try_send after close did not throw");
    } catch (const csp::panic_error&) {
    }
  }
  shared.producers_done.fetch_add(1, std::memory_order_release);
}

template <class T>
void consume(const csp::receiver<T> in, const std::uint32_t id, const round_plan& plan,
             std::vector<std::pair<std::uint32_t, std::uint32_t>>& log, counters& tally,
             error_log& errors) {
  random_source random(splitmix64(plan.seed ^ (0x200000 + id)));
  flaky_engine.seed(static_cast<std::uint32_t>(random.next() | 1));
  const std::string who = "consumer " + std::to_string(id) + ": ";
  auto record = [&](const T& value) {
    if (!value.intact()) errors.add(who + "received a destroyed or corrupt value");
    log.emplace_back(value.producer, value.seq);
    ++tally.received;
  };
  auto check_result = [&](const csp::receive_result<T>& result, const char* operation) {
    if (result.value.has_value() != (result.status == csp::channel_status::success)) {
      errors.add(who + operation + " returned status " +
                 std::string(csp::to_string(result.status)) +
                 (result.value.has_value() ? " with a value" : " without a value"));
    }
  };
  bool done = false;
  while (!done) {
    if (in.size() > plan.capacity) errors.add(who + "size() exceeds the capacity");
    try {
      switch (random.below(6)) {
        case 0: {
          std::optional<T> value = in.receive();
          if (value) {
            record(*value);
          } else {
            done = true;
          }
          break;
        }
        case 1: {
          const csp::receive_result<T> result = in.try_receive();
          check_result(result, "try_receive");
          switch (result.status) {
            case csp::channel_status::success:
              record(*result);
              break;
            case csp::channel_status::empty:
              std::this_thread::yield();
              break;
            case csp::channel_status::closed:
              done = true;
              break;
            default:
              errors.add(who + "try_receive returned " +
                         std::string(csp::to_string(result.status)));
          }
          break;
        }
        case 2:
        case 3: {
          const auto timeout = random.small_timeout();
          const csp::receive_result<T> result =
              random.chance(0.5)   ? in.receive_for(timeout)
              : random.chance(0.5) ? in.receive_until(steady_clock::now() + timeout)
                                   : in.receive_until(std::chrono::system_clock::now() + timeout);
          check_result(result, "receive_for/until");
          switch (result.status) {
            case csp::channel_status::success:
              record(*result);
              break;
            case csp::channel_status::timeout:
              ++tally.timeouts;
              break;
            case csp::channel_status::closed:
              done = true;
              break;
            default:
              errors.add(who + "receive_for/until returned " +
                         std::string(csp::to_string(result.status)));
          }
          break;
        }
        default: {
          // Leaving the loop early must leave the remaining values in the channel.
          std::uint64_t budget = random.between(1, 32);
          for (auto& value : in) {
            record(value);
            if (--budget == 0) break;
          }
          if (budget != 0) done = true;  // the loop ended: closed and drained
          break;
        }
      }
    } catch (const flaky_error&) {
      ++tally.throws;  // the value stays in the channel (or with its sender)
    }
  }
  // Closed and drained stays that way.
  const csp::receive_result<T> again = in.try_receive();
  if (again.status != csp::channel_status::closed || again.value.has_value()) {
    errors.add(who + "try_receive after seeing closed returned " +
               std::string(csp::to_string(again.status)));
  }
}

// Runs one round and checks it; failures go to `errors`.
template <class T>
counters run_round(const round_plan& plan, steady_clock::time_point deadline, error_log& errors) {
  const auto producers = static_cast<std::size_t>(plan.producers);
  const auto consumers = static_cast<std::size_t>(plan.consumers);
  std::vector<std::vector<std::uint8_t>> sent(producers, std::vector<std::uint8_t>(plan.items, 0));
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> logs(consumers);
  std::vector<counters> producer_tally(producers);
  std::vector<counters> consumer_tally(consumers);
  shared_state shared;
  {
    csp::channel<T> channel(plan.capacity);
    const flaky_arming arming(std::is_same_v<T, flaky>);
    std::vector<std::thread> consumer_threads;
    for (std::size_t c = 0; c < consumers; ++c) {
      consumer_threads.emplace_back(
          consume<T>, csp::receiver<T>(channel), static_cast<std::uint32_t>(c), std::cref(plan),
          std::ref(logs[c]), std::ref(consumer_tally[c]), std::ref(errors));
    }
    std::vector<std::thread> producer_threads;
    for (std::size_t p = 0; p < producers; ++p) {
      producer_threads.emplace_back(
          produce<T>, csp::sender<T>(channel), static_cast<std::uint32_t>(p), std::cref(plan),
          std::ref(shared), std::ref(sent[p]), std::ref(producer_tally[p]), std::ref(errors));
    }
    if (plan.how == ending::close_midway) {
      // The closer: waits (yielding, bounded by the test's deadline) until the producers have
      // made `close_after` sends or all finished, then closes under their feet.
      std::thread closer([&] {
        while (shared.sent.load(std::memory_order_relaxed) < plan.close_after &&
               shared.producers_done.load(std::memory_order_acquire) < plan.producers &&
               steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
        try {
          channel.close();
        } catch (const std::exception& e) {
          errors.add(std::string("close threw: ") + e.what());
        }
      });
      for (auto& thread : producer_threads) thread.join();
      closer.join();
    } else {
      for (auto& thread : producer_threads) thread.join();
      channel.close();
    }
    for (auto& thread : consumer_threads) thread.join();
    if (channel.size() != 0) {
      errors.add("channel holds " + std::to_string(channel.size()) + " values after draining");
    }
    try {
      channel.close();
      errors.add("a second close did not throw");
    } catch (const csp::panic_error& e) {
      if (std::string(e.what()) != "close of closed channel") {
        errors.add(std::string("second close threw \"") + e.what() + "\"");
      }
    }
  }

  counters total;
  total.rounds = 1;
  for (const counters& c : producer_tally) total.add(c);
  for (const counters& c : consumer_tally) total.add(c);

  // Exactly once, nothing invented, and per-producer order as each consumer saw it.
  std::vector<std::vector<std::uint8_t>> seen(producers, std::vector<std::uint8_t>(plan.items, 0));
  for (std::size_t c = 0; c < consumers; ++c) {
    std::vector<std::int64_t> last(producers, -1);
    for (const auto& [producer, seq] : logs[c]) {
      if (producer >= producers || seq >= plan.items) {
        errors.add("consumer " + std::to_string(c) + " received (" + std::to_string(producer) +
                   ", " + std::to_string(seq) + "), which no producer has");
        continue;
      }
      if (static_cast<std::int64_t>(seq) <= last[producer]) {
        errors.add("consumer " + std::to_string(c) + " received producer " +
                   std::to_string(producer) + "'s value " + std::to_string(seq) + " after " +
                   std::to_string(last[producer]));
      }
      last[producer] = seq;
      if (++seen[producer][seq] > 1) {
        errors.add("value (" + std::to_string(producer) + ", " + std::to_string(seq) +
                   ") received twice");
      }
    }
  }
  for (std::size_t p = 0; p < producers; ++p) {
    for (std::uint32_t seq = 0; seq < plan.items; ++seq) {
      if (sent[p][seq] == 1 && seen[p][seq] == 0) {
        errors.add("value (" + std::to_string(p) + ", " + std::to_string(seq) +
                   ") was sent but never received");
      } else if (sent[p][seq] == 0 && seen[p][seq] != 0) {
        errors.add("value (" + std::to_string(p) + ", " + std::to_string(seq) +
                   ") was received but its send did not happen");
      }
    }
  }
  if (total.sent != total.received) {
    errors.add(std::to_string(total.sent) + " values sent, " + std::to_string(total.received) +
               " received");
  }
  if (plan.how == ending::close_after_producers && !plan.may_give_up &&
      total.sent != std::uint64_t{plan.items} * producers) {
    errors.add("expected exactly " + std::to_string(std::uint64_t{plan.items} * producers) +
               " values sent, got " + std::to_string(total.sent));
  }
  if constexpr (std::is_same_v<T, flaky>) {
    if (const auto live = flaky_live.load(); live != 0) {
      errors.add(std::to_string(live) +
                 " flaky values alive after the round (leak or double "
                 "destruction)");
    }
    if (const auto corrupt = flaky::flaky_corrupt.exchange(0); corrupt != 0) {
      errors.add(std::to_string(corrupt) + " flaky values destroyed twice or never constructed");
    }
    flaky_live.store(0);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// The tests

enum class scenario { close_midway, close_after_producers, mixed };

struct shape {
  int producers;
  int consumers;
};
constexpr shape shapes[] = {{3, 3}, {1, 4}, {4, 1}, {1, 1}, {2, 2}};

template <class T>
void run_stress(std::size_t capacity, scenario which) {
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  const std::string name = std::string(info->test_suite_name()) + "." + info->name();
  const std::uint64_t seed = csp::testing::stress_seed();
  const double seconds = csp::testing::stress_seconds();
  csp::testing::announce_stress(name, seed, seconds);
  SCOPED_TRACE("CSP_STRESS_SEED=" + std::to_string(seed));

  const auto start = steady_clock::now();
  const auto budget =
      std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(seconds));
  const auto deadline = start + budget;
  // Size rounds so that about a dozen fit in the budget, from the rate measured so far.
  const double round_seconds = seconds / 12;
  double items_per_second = 20000;  // a cautious first guess (TSan, unbuffered)

  random_source random(seed);
  counters total;
  error_log errors;
  std::size_t index = 0;
  do {
    const shape s = shapes[index % std::size(shapes)];
    round_plan plan;
    plan.capacity = capacity;
    plan.producers = s.producers;
    plan.consumers = s.consumers;
    const double fit = items_per_second * round_seconds / s.producers;
    const auto most = static_cast<std::uint64_t>(std::clamp(fit, 16.0, 50000.0));
    plan.items = static_cast<std::uint32_t>(random.chance(0.1) ? random.between(1, 8)
                                                               : random.between(most / 4, most));
    const bool midway =
        which == scenario::close_midway || (which == scenario::mixed && random.chance(0.5));
    plan.how = midway ? ending::close_midway : ending::close_after_producers;
    plan.close_after = random.between(0, std::uint64_t{plan.items} * s.producers);
    plan.may_give_up = midway || (which == scenario::mixed && random.chance(0.5));
    plan.seed = splitmix64(seed + index);

    const auto round_start = steady_clock::now();
    const counters result = run_round<T>(plan, deadline, errors);
    const double elapsed = std::chrono::duration<double>(steady_clock::now() - round_start).count();
    total.add(result);
    if (elapsed > 0 && result.received >= 64) {
      items_per_second = std::max(1000.0, static_cast<double>(result.received) / elapsed);
    }
    if (errors.count() != 0) {
      for (const std::string& text : errors.texts())
        ADD_FAILURE() << describe(plan) << ": " << text;
      ADD_FAILURE() << errors.count() << " errors in round " << index << " of " << name
                    << "; reproduce with CSP_STRESS_SEED=" << seed;
      break;
    }
    ++index;
  } while (steady_clock::now() < deadline);

  const double elapsed = std::chrono::duration<double>(steady_clock::now() - start).count();
  std::cout << "[ stress   ] " << name << ": " << total.rounds << " rounds in " << elapsed << " s; "
            << total.sent << " sent, " << total.received << " received, " << total.given_up
            << " given up, " << total.timeouts << " timeouts, " << total.panics
            << " sends after close, " << total.throws << " copies threw" << std::endl;
  EXPECT_GT(total.rounds, 0u);
}

std::string capacity_name(const testing::TestParamInfo<std::size_t>& info) {
  return info.param == 0 ? std::string("Unbuffered") : "Capacity" + std::to_string(info.param);
}

class ChannelStress : public testing::TestWithParam<std::size_t> {};

// A closer closes the channel while producers are still sending.
TEST_P(ChannelStress, CloseWhileSending) { run_stress<token>(GetParam(), scenario::close_midway); }

// Producers send everything, then the channel is closed: totals are exact.
TEST_P(ChannelStress, ProducersFinishThenClose) {
  run_stress<token>(GetParam(), scenario::close_after_producers);
}

// 1% of the value's copies and moves throw: a throwing send did not send, a throwing receive
// did not receive, and delivery is still exactly once.
TEST_P(ChannelStress, ThrowingValues) { run_stress<flaky>(GetParam(), scenario::mixed); }

INSTANTIATE_TEST_SUITE_P(Flavors, ChannelStress, testing::Values(0u, 1u, 7u, 64u), capacity_name);

}  // namespace
