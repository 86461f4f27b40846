// select_test.cpp: csp::select (csp/select.hpp), driven from plain std::thread parties.
//
// Each test names the Go rule it checks (go-semantics.md §1.8, SEL-*). The parties are OS
// threads for now; the goroutine runtime will rerun the same scenarios later.
//
// "This blocks" is never probed with a sleep: a blocking select is raced against a
// csp::after() case, which must be the one taken, and no sooner than its delay. A select with
// no cases at all has nothing to race against and no way out, so it is checked only for being
// well-formed (a thread blocked in it could never be joined).
//
// Allocation counting: in a plain build this file replaces the global operator new / delete
// with malloc-based versions that count, but only on a thread whose thread_local flag is set
// (inside an `allocation_counter` scope), so the other tests of the binary see an ordinary
// allocator. Under AddressSanitizer that replacement would switch off ASan's new/delete
// mismatch checks for the whole binary, so sanitizer builds count through the sanitizers'
// malloc hooks instead (every operator new reaches their malloc).
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "csp/select.hpp"
#include "csp/time.hpp"
#include "support/thread_probe.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CSP_SELECT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CSP_SELECT_TEST_SANITIZED 1
#endif
#endif
#ifndef CSP_SELECT_TEST_SANITIZED
#define CSP_SELECT_TEST_SANITIZED 0
#endif

// ---------------------------------------------------------------------------------------------
// Allocation counting (see the file comment).

namespace {

thread_local bool count_allocations = false;
std::atomic<long> allocations_counted{0};

inline void note_allocation() noexcept {
  if (count_allocations) allocations_counted.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

#if CSP_SELECT_TEST_SANITIZED

extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));

namespace {

void malloc_hook(const volatile void*, std::size_t) { note_allocation(); }
void free_hook(const volatile void*) {}

// Installed before main, while the process has one thread (the hooks' documented requirement).
const bool hooks_installed = __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook) != 0;

}  // namespace

#else

namespace {

void* allocate(std::size_t size) {
  note_allocation();
  if (size == 0) size = 1;
  for (;;) {
    if (void* p = std::malloc(size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  note_allocation();
  const auto align = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
  if (size == 0) size = 1;
  for (;;) {
    void* p = nullptr;
    if (::posix_memalign(&p, align, size) == 0) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

const bool hooks_installed = true;

}  // namespace

void* operator new(std::size_t size) { return allocate(size); }
void* operator new[](std::size_t size) { return allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate_aligned(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate_aligned(size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  try {
    return allocate_aligned(size, alignment);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

#endif

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// How long any bounded wait in this file gives its partner before the test fails.
constexpr auto patience = 10s;
// How long a "this blocks" probe waits.
constexpr auto short_wait = 50ms;

// Iteration counts for the concurrent tests, smaller where the sanitizers slow every step.
constexpr int scaled(int n) { return CSP_SELECT_TEST_SANITIZED ? n / 4 : n; }

// Counts the allocations the current thread makes while it exists.
class allocation_counter {
 public:
  allocation_counter() : start_(allocations_counted.load()) { count_allocations = true; }
  ~allocation_counter() { count_allocations = false; }
  allocation_counter(const allocation_counter&) = delete;
  allocation_counter& operator=(const allocation_counter&) = delete;
  long count() const { return allocations_counted.load() - start_; }

 private:
  long start_;
};

template <class F>
std::string panic_text(F&& operation) {
  try {
    operation();
  } catch (const csp::panic_error& error) {
    return error.what();
  } catch (...) {
    return "<another exception>";
  }
  return "<no exception>";
}

template <class F>
steady::duration time_of(F&& operation) {
  const auto start = steady::now();
  operation();
  return steady::now() - start;
}

// ---------------------------------------------------------------------------------------------
// Knowing that a party is blocked (as in channel_test.cpp): /proc/self/task/<tid>/syscall shows
// a thread asleep in futex(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) on its waiter word with the
// value "phase waiting, sleeping bit set", which csp's thread parker sets only after a select
// queued every one of its cases.

using csp_test::current_tid;
using csp_test::parked_in_csp;
using csp_test::parking_observable;

// Waits until the thread that published its id in `tid` sleeps in csp. True at once when
// parking cannot be observed (the test then runs in whatever order chance gives); false after
// `patience`.
bool wait_until_parked(const std::atomic<pid_t>& tid) {
  if (!parking_observable()) return true;
  const auto give_up = steady::now() + patience;
  while (steady::now() < give_up) {
    const pid_t id = tid.load(std::memory_order_acquire);
    if (id != 0 && parked_in_csp(id)) return true;
    std::this_thread::yield();
  }
  return false;
}

// =============================================================================================
// Which case is taken, and what it reports.

TEST(Select, ReturnsTheArgumentPositionOfTheCaseTaken) {
  csp::channel<int> a(1), b(1), c(1);
  ASSERT_TRUE(b.try_send(2));
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_receive(b), csp::on_receive(c)), 1u);

  ASSERT_TRUE(c.try_send(3));
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_receive(c)), 1u);

  // A send case counts like any other, and a full buffer is not ready.
  ASSERT_TRUE(a.try_send(1));
  EXPECT_EQ(csp::select(csp::on_send(a, 9), csp::on_send(b, 8)), 1u);
  EXPECT_EQ(b.receive(), 8);
  EXPECT_EQ(a.receive(), 1);
}

TEST(Select, DefaultPositionCountsInTheReturnedIndex) {  // SEL-4
  csp::channel<int> a(1), b(1);
  EXPECT_EQ(csp::select(csp::on_default()), 0u);
  EXPECT_EQ(csp::select(csp::on_default(), csp::on_receive(a)), 0u);
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_default()), 1u);
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_default(), csp::on_receive(b)), 1u);
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_receive(b), csp::on_default()), 2u);

  // A ready case after the default keeps its own argument position.
  ASSERT_TRUE(b.try_send(5));
  EXPECT_EQ(csp::select(csp::on_receive(a), csp::on_default(), csp::on_receive(b)), 2u);
  ASSERT_TRUE(a.try_send(5));
  EXPECT_EQ(csp::select(csp::on_default(), csp::on_receive(b), csp::on_receive(a)), 2u);
  ASSERT_TRUE(b.try_send(5));
  EXPECT_EQ(csp::select(csp::on_default(), csp::on_receive(b), csp::on_receive(a)), 1u);
}

// A select of one case and a default is inlined down to each flavor's lock-free answer
// (flavors.hpp, try_send_now / try_receive_now); the locked half and the virtual fallback must
// still give Go's answers: ready, not ready, closed, nil, in either argument order.
TEST(Select, OneCaseAndADefaultGiveGosAnswersOnEveryKindOfChannel) {  // SEL-4, SEL-6, SEL-7, SEL-8
  csp::channel<int> unbuffered, buffered(1), nil_channel(nullptr);
  std::optional<int> out = -1;
  for (csp::channel<int>* ch : {&unbuffered, &buffered}) {
    SCOPED_TRACE(ch->capacity());
    EXPECT_EQ(csp::select(csp::on_receive(*ch, out), csp::on_default()), 1u);
    EXPECT_EQ(csp::select(csp::on_default(), csp::on_receive(*ch, out)), 0u);
    EXPECT_EQ(out, -1);
  }
  // Ready: a waiting receiver for the unbuffered channel, room for the buffered one.
  std::thread receiver([unbuffered] { EXPECT_EQ(unbuffered.receive(), 7); });
  bool sent = false;
  for (int tries = 0; !sent && tries < 1'000'000; ++tries) {
    sent = csp::select(csp::on_default(), csp::on_send(unbuffered, 7)) == 1;
    if (!sent) std::this_thread::yield();
  }
  receiver.join();
  EXPECT_TRUE(sent) << "no waiting receiver was ever seen";
  EXPECT_EQ(csp::select(csp::on_send(buffered, 8), csp::on_default()), 0u);
  EXPECT_EQ(csp::select(csp::on_send(buffered, 9), csp::on_default()), 1u);  // full
  EXPECT_EQ(csp::select(csp::on_receive(buffered, out), csp::on_default()), 0u);
  EXPECT_EQ(out, 8);
  // A nil channel's case never proceeds.
  EXPECT_EQ(csp::select(csp::on_receive(nil_channel), csp::on_default()), 1u);
  EXPECT_EQ(csp::select(csp::on_default(), csp::on_send(nil_channel, 1)), 0u);
  // Closed: a receive proceeds with no value, a send throws even beside a default.
  for (csp::channel<int>* ch : {&unbuffered, &buffered}) {
    SCOPED_TRACE(ch->capacity());
    ch->close();
    out = -1;
    EXPECT_EQ(csp::select(csp::on_default(), csp::on_receive(*ch, out)), 1u);
    EXPECT_EQ(out, std::nullopt);
    EXPECT_THROW((void)csp::select(csp::on_send(*ch, 1), csp::on_default()), csp::panic_error);
  }
  // A timer's channel (neither flavor above: the virtual call).
  auto timer_channel = csp::after(std::chrono::nanoseconds(1));
  bool fired = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fired && std::chrono::steady_clock::now() < give_up) {
    fired = csp::select(csp::on_receive(timer_channel), csp::on_default()) == 0;
    if (!fired) std::this_thread::yield();
  }
  EXPECT_TRUE(fired) << "a 1 ns timer never fired within 10 s";
  EXPECT_EQ(csp::select(csp::on_receive(timer_channel), csp::on_default()), 1u);
}

TEST(Select, OutParameterIsWrittenOnlyForTheTakenCase) {  // SEL-2
  csp::channel<int> a(1), b(1), c(1);
  std::optional<int> oa = -1, ob = -1, oc = -1;

  ASSERT_TRUE(b.try_send(7));
  EXPECT_EQ(csp::select(csp::on_receive(a, oa), csp::on_receive(b, ob), csp::on_receive(c, oc)),
            1u);
  EXPECT_EQ(oa, -1);
  EXPECT_EQ(ob, 7);
  EXPECT_EQ(oc, -1);

  // The default path writes nothing.
  ob = -1;
  EXPECT_EQ(csp::select(csp::on_receive(a, oa), csp::on_receive(b, ob), csp::on_receive(c, oc),
                        csp::on_default()),
            3u);
  EXPECT_EQ(oa, -1);
  EXPECT_EQ(ob, -1);
  EXPECT_EQ(oc, -1);
}

TEST(Select, OutParameterIsWrittenOnlyForTheCaseABlockedSelectTook) {  // SEL-2, SEL-5
  // Unbuffered channels, so that the select blocks (pass 2) at least some of the time and a
  // partner completes it; the two cases it did not take must keep their sentinels.
  std::array<csp::channel<int>, 3> channels;
  const int rounds = scaled(300);
  std::jthread sender([&] {
    for (int i = 0; i < rounds; ++i) {
      if (!channels[static_cast<std::size_t>(i % 3)].send_for(i, patience)) return;
    }
  });
  for (int i = 0; i < rounds; ++i) {
    std::array<std::optional<int>, 3> out{-1, -1, -1};
    const std::size_t taken =
        csp::select(csp::on_receive(channels[0], out[0]), csp::on_receive(channels[1], out[1]),
                    csp::on_receive(channels[2], out[2]), csp::on_receive(csp::after(patience)));
    ASSERT_EQ(taken, static_cast<std::size_t>(i % 3)) << "round " << i;
    for (std::size_t k = 0; k < 3; ++k) {
      if (k == taken) {
        EXPECT_EQ(out[k], i);
      } else {
        EXPECT_EQ(out[k], -1) << "round " << i << ": case " << k << " was not taken";
      }
    }
  }
}

TEST(Select, DiscardingReceiveConsumesOneValue) {
  csp::channel<int> ch(2);
  ASSERT_TRUE(ch.try_send(1));
  ASSERT_TRUE(ch.try_send(2));
  EXPECT_EQ(csp::select(csp::on_receive(ch)), 0u);
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch.receive(), 2);
}

TEST(Select, ReceiveFromClosedChannelIsAlwaysReadyAndEmpty) {  // SEL-8
  csp::channel<int> closed(1);
  ASSERT_TRUE(closed.try_send(4));
  closed.close();
  csp::channel<int> idle;

  // Buffered values first, then empty forever, also with a default present.
  std::optional<int> out = -1;
  EXPECT_EQ(csp::select(csp::on_receive(idle), csp::on_receive(closed, out), csp::on_default()),
            1u);
  EXPECT_EQ(out, 4);
  for (int i = 0; i < 10; ++i) {
    out = -1;
    EXPECT_EQ(csp::select(csp::on_receive(idle), csp::on_receive(closed, out), csp::on_default()),
              1u);
    EXPECT_EQ(out, std::nullopt);
  }

  int calls = 0;
  EXPECT_EQ(csp::select(csp::on_receive(closed,
                                        [&](std::optional<int> v) {
                                          ++calls;
                                          EXPECT_EQ(v, std::nullopt);
                                        })),
            0u);
  EXPECT_EQ(calls, 1);
}

TEST(Select, ClosingWakesABlockedSelect) {  // SEL-9
  csp::channel<int> closing, idle;
  std::atomic<pid_t> tid{0};
  std::optional<int> out = -1;
  std::size_t taken = 99;
  std::jthread selector([&] {
    tid.store(current_tid(), std::memory_order_release);
    taken = csp::select(csp::on_receive(idle), csp::on_receive(closing, out),
                        csp::on_receive(csp::after(patience)));
  });
  ASSERT_TRUE(wait_until_parked(tid));
  closing.close();
  selector.join();
  EXPECT_EQ(taken, 1u);
  EXPECT_EQ(out, std::nullopt);
}

// =============================================================================================
// Callbacks.

TEST(Select, ReceiveCallbackGetsTheOptionalAndRunsOnlyWhenTaken) {
  csp::channel<int> ready(1), idle(1);
  ASSERT_TRUE(ready.try_send(11));
  int ready_calls = 0, idle_calls = 0;
  std::optional<int> got;
  EXPECT_EQ(csp::select(csp::on_receive(idle, [&](std::optional<int>) { ++idle_calls; }),
                        csp::on_receive(ready,
                                        [&](std::optional<int> v) {
                                          ++ready_calls;
                                          got = v;
                                        })),
            1u);
  EXPECT_EQ(ready_calls, 1);
  EXPECT_EQ(idle_calls, 0);
  EXPECT_EQ(got, 11);

  // A generic callback is called with std::optional<T>.
  ASSERT_TRUE(ready.try_send(12));
  bool generic_called = false;
  csp::select(csp::on_receive(ready, [&](auto v) {
    static_assert(std::is_same_v<decltype(v), std::optional<int>>);
    generic_called = v == 12;
  }));
  EXPECT_TRUE(generic_called);

  // A callback that takes nothing.
  ASSERT_TRUE(ready.try_send(13));
  int plain_calls = 0;
  EXPECT_EQ(csp::select(csp::on_receive(idle, [&] { ADD_FAILURE() << "idle case ran"; }),
                        csp::on_receive(ready, [&] { ++plain_calls; })),
            1u);
  EXPECT_EQ(plain_calls, 1);
}

TEST(Select, ReceiveWithOutAndCallbackWritesOutThenCalls) {
  csp::channel<std::string> ready(1), idle(1);
  ASSERT_TRUE(ready.try_send("hello"));
  std::optional<std::string> out = "sentinel", idle_out = "sentinel";
  std::optional<std::string> seen_in_callback;
  int plain_calls = 0;
  EXPECT_EQ(csp::select(csp::on_receive(idle, idle_out,
                                        [&](std::optional<std::string>&) { ADD_FAILURE(); }),
                        csp::on_receive(ready, out,
                                        [&](std::optional<std::string>& v) {
                                          // `out` is already written when the callback runs.
                                          EXPECT_EQ(&v, &out);
                                          seen_in_callback = v;
                                        })),
            1u);
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(seen_in_callback, "hello");
  EXPECT_EQ(idle_out, "sentinel");

  ASSERT_TRUE(ready.try_send("again"));
  EXPECT_EQ(csp::select(csp::on_receive(ready, out, [&] { ++plain_calls; }),
                        csp::on_receive(idle, idle_out, [&] { ADD_FAILURE(); })),
            0u);
  EXPECT_EQ(plain_calls, 1);
  EXPECT_EQ(out, "again");
  EXPECT_EQ(idle_out, "sentinel");
}

TEST(Select, SendAndDefaultCallbacksRunOnlyWhenTaken) {
  csp::channel<int> room(1), full(1);
  ASSERT_TRUE(full.try_send(0));
  int sent = 0, blocked = 0, defaults = 0;
  EXPECT_EQ(
      csp::select(csp::on_send(full, 1, [&] { ++blocked; }), csp::on_send(room, 2, [&] { ++sent; }),
                  csp::on_default([&] { ++defaults; })),
      1u);
  EXPECT_EQ(sent, 1);
  EXPECT_EQ(blocked, 0);
  EXPECT_EQ(defaults, 0);
  EXPECT_EQ(room.try_receive().value, 2);

  EXPECT_EQ(
      csp::select(csp::on_default([&] { ++defaults; }), csp::on_send(full, 1, [&] { ++blocked; })),
      0u);
  EXPECT_EQ(defaults, 1);
  EXPECT_EQ(blocked, 0);
  EXPECT_EQ(full.size(), 1u);
}

// =============================================================================================
// Send values.

TEST(Select, SendValueIsMovedOnlyIfTheCaseIsTaken) {
  csp::channel<std::unique_ptr<int>> full(1), room(1);
  ASSERT_TRUE(full.try_send(std::make_unique<int>(0)));

  // Lvalue case objects: the one not taken still owns its value afterwards.
  auto to_full = csp::on_send(full, std::make_unique<int>(1));
  auto to_room = csp::on_send(room, std::make_unique<int>(2));
  EXPECT_EQ(csp::select(to_full, to_room), 1u);
  EXPECT_EQ(csp::select(to_full, csp::on_default()), 1u);

  // Make room; the same case object now sends the value it kept.
  auto first = full.try_receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(**first, 0);
  EXPECT_EQ(csp::select(to_full, csp::on_default()), 0u);
  auto kept = full.try_receive();
  ASSERT_TRUE(kept);
  ASSERT_NE(*kept, nullptr);
  EXPECT_EQ(**kept, 1);
  auto sent = room.try_receive();
  ASSERT_TRUE(sent);
  ASSERT_NE(*sent, nullptr);
  EXPECT_EQ(**sent, 2);
}

TEST(Select, DynamicSendCasesKeepTheirValuesUntilTaken) {
  constexpr std::size_t n = 4;
  std::vector<csp::channel<std::unique_ptr<int>>> channels;
  for (std::size_t i = 0; i < n; ++i) {
    channels.emplace_back(1);
    ASSERT_TRUE(channels[i].try_send(nullptr));  // full
  }
  std::vector<csp::send_case<std::unique_ptr<int>>> cases;
  for (std::size_t i = 0; i < n; ++i) {
    cases.push_back(csp::on_send(channels[i], std::make_unique<int>(static_cast<int>(i))));
  }
  EXPECT_EQ(csp::select(cases, csp::on_default()), n);

  // Free one channel at a time, in an order unlike the cases'; each case sends its own value.
  for (const std::size_t i : {2u, 0u, 3u, 1u}) {
    ASSERT_TRUE(channels[i].try_receive());
    EXPECT_EQ(csp::select(cases, csp::on_default()), i);
    auto value = channels[i].try_receive();
    ASSERT_TRUE(value);
    ASSERT_NE(*value, nullptr);
    EXPECT_EQ(**value, static_cast<int>(i));
    ASSERT_TRUE(channels[i].try_send(nullptr));  // full again
  }
}

TEST(Select, SendCaseCopiesAnLvalueValue) {
  csp::channel<std::string> ch(1);
  std::string text = "kept";
  EXPECT_EQ(csp::select(csp::on_send(ch, text)), 0u);
  EXPECT_EQ(text, "kept");
  EXPECT_EQ(ch.receive(), "kept");
}

TEST(Select, SendOnClosedChannelPanicsEvenWithDefault) {  // SEL-7
  csp::channel<int> closed(1), idle;
  closed.close();
  EXPECT_EQ(panic_text([&] { csp::select(csp::on_send(closed, 7), csp::on_default()); }),
            "send on closed channel");
  EXPECT_EQ(panic_text([&] {
              csp::select(csp::on_default(), csp::on_receive(idle), csp::on_send(closed, 7));
            }),
            "send on closed channel");
  // Without a default (bounded, so that a select that never panics fails instead of hanging).
  EXPECT_EQ(panic_text([&] {
              csp::select(csp::on_send(closed, 7), csp::on_receive(csp::after(patience)));
            }),
            "send on closed channel");

  // The panicking case is one ready case among others: chosen at random, never skipped.
  csp::channel<int> ready(1);
  int panics = 0, receives = 0;
  for (int i = 0; i < 200; ++i) {
    if (ready.size() == 0) {
      ASSERT_TRUE(ready.try_send(1));
    }
    try {
      if (csp::select(csp::on_send(closed, 7), csp::on_receive(ready), csp::on_default()) == 1) {
        ++receives;
      }
    } catch (const csp::panic_error&) {
      ++panics;
    }
  }
  EXPECT_GT(panics, 0);
  EXPECT_GT(receives, 0);
  EXPECT_EQ(panics + receives, 200);
}

TEST(Select, ClosingWakesABlockedSendCaseWithAPanic) {  // SEL-9
  csp::channel<int> closing, idle;
  std::atomic<pid_t> tid{0};
  std::string text;
  std::jthread selector([&] {
    tid.store(current_tid(), std::memory_order_release);
    text = panic_text([&] {
      csp::select(csp::on_receive(idle), csp::on_send(closing, 1),
                  csp::on_receive(csp::after(patience)));
    });
  });
  ASSERT_TRUE(wait_until_parked(tid));
  closing.close();
  selector.join();
  EXPECT_EQ(text, "send on closed channel");
}

// =============================================================================================
// Nil channels and blocking.

TEST(Select, NilChannelCasesAreNeverReady) {  // SEL-6
  csp::channel<int> nil{nullptr};
  csp::sender<int> nil_sender;
  csp::receiver<int> nil_receiver;
  std::optional<int> out = -1;
  int defaults = 0;
  EXPECT_EQ(csp::select(csp::on_receive(nil, out, [] { ADD_FAILURE() << "nil receive ran"; }),
                        csp::on_send(nil, 7, [] { ADD_FAILURE() << "nil send ran"; }),
                        csp::on_send(nil_sender, 8), csp::on_receive(nil_receiver),
                        csp::on_default([&] { ++defaults; })),
            4u);
  EXPECT_EQ(defaults, 1);
  EXPECT_EQ(out, -1);

  // Next to a ready case, the nil case never wins.
  csp::channel<int> ready(1);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(ready.try_send(i));
    EXPECT_EQ(csp::select(csp::on_receive(nil), csp::on_send(nil, 1), csp::on_receive(ready)), 2u);
  }
}

TEST(Select, OnlyNilCasesBlockUntilTheTimeoutCase) {  // SEL-6
  csp::channel<int> nil{nullptr};
  std::size_t taken = 99;
  const auto elapsed = time_of([&] {
    taken = csp::select(csp::on_receive(nil), csp::on_send(nil, 7),
                        csp::on_receive(csp::after(short_wait)));
  });
  EXPECT_EQ(taken, 2u);
  EXPECT_GE(elapsed, short_wait);
}

TEST(Select, SelectWithoutCasesIsWellFormed) {  // SEL-6
  // select() blocks forever (Go's `select {}`); a thread in it could never be joined, so only
  // its type is checked here.
  static_assert(std::is_same_v<decltype(csp::select()), std::size_t>);
}

TEST(Select, NonReadyCasesBlockUntilTheTimeoutCase) {  // SEL-5
  csp::channel<int> unbuffered, empty(1), full(1);
  ASSERT_TRUE(full.try_send(0));
  std::size_t taken = 99;
  const auto elapsed = time_of([&] {
    taken = csp::select(csp::on_receive(unbuffered), csp::on_send(unbuffered, 1),
                        csp::on_receive(empty), csp::on_send(full, 2),
                        csp::on_receive(csp::after(short_wait)));
  });
  EXPECT_EQ(taken, 4u);
  EXPECT_GE(elapsed, short_wait);
  EXPECT_EQ(full.size(), 1u);
  EXPECT_EQ(empty.size(), 0u);
}

TEST(Select, ViewsAndTemporaryHandlesWork) {
  csp::channel<int> ch(1);
  csp::sender<int> out = ch;
  csp::receiver<int> in = ch;
  EXPECT_EQ(csp::select(csp::on_send(out, 5)), 0u);
  std::optional<int> got;
  EXPECT_EQ(csp::select(csp::on_receive(in, got)), 0u);
  EXPECT_EQ(got, 5);
  // An rvalue handle is kept alive by the case itself.
  EXPECT_EQ(csp::select(csp::on_send(csp::sender<int>(ch), 6)), 0u);
  EXPECT_EQ(csp::select(csp::on_receive(csp::receiver<int>(ch), got)), 0u);
  EXPECT_EQ(got, 6);
}

// =============================================================================================
// The same channel in several cases.

TEST(Select, SameChannelInSeveralReceiveCases) {  // SEL-11
  csp::channel<int> ch(1);
  int first = 0, second = 0;
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(ch.try_send(i));
    std::optional<int> o1 = -1, o2 = -1;
    const std::size_t taken = csp::select(csp::on_receive(ch, o1), csp::on_receive(ch, o2));
    ASSERT_LT(taken, 2u);
    if (taken == 0) {
      ++first;
      EXPECT_EQ(o1, i);
      EXPECT_EQ(o2, -1);
    } else {
      ++second;
      EXPECT_EQ(o1, -1);
      EXPECT_EQ(o2, i);
    }
    EXPECT_EQ(ch.size(), 0u);
  }
  EXPECT_GT(first, 0);
  EXPECT_GT(second, 0);
}

TEST(Select, SameChannelQueuedTwiceIsDequeuedCleanly) {  // runtime TestSelectDuplicateChannel
  // A selects {<-c, <-c, <-d}; B receives from c. Waking A through d must leave c's queue
  // intact, so that a send on c reaches B.
  for (int round = 0; round < scaled(50); ++round) {
    csp::channel<int> c, d, e;
    std::atomic<pid_t> a_tid{0}, b_tid{0};
    std::jthread a([&] {
      a_tid.store(current_tid(), std::memory_order_release);
      csp::select(csp::on_receive(c), csp::on_receive(c), csp::on_receive(d),
                  csp::on_receive(csp::after(patience)));
      (void)e.send_for(9, patience);
    });
    ASSERT_TRUE(wait_until_parked(a_tid));
    std::optional<int> b_got;
    std::jthread b([&] {
      b_tid.store(current_tid(), std::memory_order_release);
      b_got = c.receive_for(patience).value;
    });
    ASSERT_TRUE(wait_until_parked(b_tid));
    ASSERT_TRUE(d.send_for(7, patience));
    ASSERT_EQ(e.receive_for(patience).value, 9);
    ASSERT_TRUE(c.send_for(8, patience));
    b.join();
    EXPECT_EQ(b_got, 8);
  }
}

TEST(Select, DoesNotPairWithItself) {  // SEL-10
  csp::channel<int> c;
  std::size_t taken = 99;
  const auto elapsed = time_of([&] {
    taken = csp::select(csp::on_send(c, 1), csp::on_receive(c),
                        csp::on_receive(csp::after(short_wait)));
  });
  EXPECT_EQ(taken, 2u);
  EXPECT_GE(elapsed, short_wait);
}

TEST(Select, SendAndReceiveOnOneChannelPairWithAThirdParty) {  // SEL-10
  csp::channel<int> c;
  // The third party receives: the select's send case is the one that pairs.
  {
    std::size_t taken = 99;
    std::optional<int> out = -1;
    std::jthread selector([&] {
      taken = csp::select(csp::on_send(c, 1), csp::on_receive(c, out),
                          csp::on_receive(csp::after(patience)));
    });
    EXPECT_EQ(c.receive_for(patience).value, 1);
    selector.join();
    EXPECT_EQ(taken, 0u);
    EXPECT_EQ(out, -1);
  }
  // The third party sends: the receive case pairs.
  {
    std::size_t taken = 99;
    std::optional<int> out = -1;
    std::jthread selector([&] {
      taken = csp::select(csp::on_send(c, 1), csp::on_receive(c, out),
                          csp::on_receive(csp::after(patience)));
    });
    EXPECT_TRUE(c.send_for(5, patience));
    selector.join();
    EXPECT_EQ(taken, 1u);
    EXPECT_EQ(out, 5);
  }
}

// =============================================================================================
// Fairness.

TEST(Select, ReadyCasesAreChosenUniformly) {  // SEL-3, Go's 10 sigma bound
  constexpr int trials = 10000;
  csp::channel<int> c1(1), c2(1), never1, never2;
  ASSERT_TRUE(c1.try_send(1));
  ASSERT_TRUE(c2.try_send(2));
  int cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < trials; ++i) {
    std::optional<int> b;
    switch (csp::select(csp::on_receive(never1, b), csp::on_receive(never2, b),
                        csp::on_receive(c1, b), csp::on_receive(c2, b))) {
      case 2:
        ++cnt1;
        ASSERT_TRUE(c1.try_send(1));
        break;
      case 3:
        ++cnt2;
        ASSERT_TRUE(c2.try_send(2));
        break;
      default:
        FAIL() << "a never-ready case was taken";
    }
  }
  // mean 5000, sigma 50.
  EXPECT_NEAR(cnt1, trials / 2, 500) << cnt1 << " vs " << cnt2;
  EXPECT_EQ(cnt1 + cnt2, trials);
}

TEST(Select, ReadySendCasesAreChosenUniformly) {  // SEL-3
  constexpr int trials = 10000;
  csp::channel<int> c1(1), c2(1), full1(1), full2(1);
  ASSERT_TRUE(full1.try_send(0));
  ASSERT_TRUE(full2.try_send(0));
  int cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < trials; ++i) {
    switch (csp::select(csp::on_send(c1, 1), csp::on_send(full1, 0), csp::on_send(c2, 2),
                        csp::on_send(full2, 0), csp::on_default())) {
      case 0:
        ++cnt1;
        ASSERT_TRUE(c1.try_receive());
        break;
      case 2:
        ++cnt2;
        ASSERT_TRUE(c2.try_receive());
        break;
      default:
        FAIL() << "a never-ready case was taken";
    }
  }
  EXPECT_NEAR(cnt1, trials / 2, 500) << cnt1 << " vs " << cnt2;
}

TEST(Select, DynamicReadyCasesAreChosenUniformly) {  // SEL-3, SEL-14
  constexpr int trials = 10000;
  csp::channel<int> c1(1), c2(1), never1, never2;
  ASSERT_TRUE(c1.try_send(1));
  ASSERT_TRUE(c2.try_send(2));
  std::vector<csp::receive_case<int>> cases;
  cases.push_back(csp::on_receive(c1));
  cases.push_back(csp::on_receive(never1));
  cases.push_back(csp::on_receive(never2));
  cases.push_back(csp::on_receive(c2));
  int cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < trials; ++i) {
    const std::size_t taken = csp::select(cases);
    if (taken == 0) {
      ++cnt1;
      ASSERT_TRUE(c1.try_send(1));
    } else if (taken == 3) {
      ++cnt2;
      ASSERT_TRUE(c2.try_send(2));
    } else {
      FAIL() << "a never-ready case was taken";
    }
  }
  EXPECT_NEAR(cnt1, trials / 2, 500) << cnt1 << " vs " << cnt2;
}

// =============================================================================================
// Exactly one case, under concurrency.

TEST(Select, ConcurrentCloseLosesAndDuplicatesNothing) {  // SEL-5, SEL-9
  constexpr std::size_t channels = 3;
  constexpr int receivers = 3;
  const int per_channel = scaled(4000);
  std::array<csp::channel<int>, channels> ch{csp::channel<int>(0), csp::channel<int>(1),
                                             csp::channel<int>(8)};
  std::vector<std::atomic<int>> seen(channels * static_cast<std::size_t>(per_channel));
  std::atomic<int> closed_seen{0};
  {
    std::vector<std::jthread> threads;
    for (int r = 0; r < receivers; ++r) {
      threads.emplace_back([&] {
        std::array<csp::channel<int>, channels> mine = ch;
        std::size_t open = channels;
        while (open > 0) {
          std::optional<int> v;
          const std::size_t k =
              csp::select(csp::on_receive(mine[0], v), csp::on_receive(mine[1], v),
                          csp::on_receive(mine[2], v), csp::on_receive(csp::after(patience)));
          if (k == channels) {
            ADD_FAILURE() << "receiver starved";
            return;
          }
          if (v) {
            seen[static_cast<std::size_t>(*v)].fetch_add(1, std::memory_order_relaxed);
          } else {
            mine[k] = nullptr;  // closed: stop selecting on it
            --open;
            closed_seen.fetch_add(1, std::memory_order_relaxed);
          }
        }
      });
    }
    threads.emplace_back([&] {
      for (int j = 0; j < per_channel; ++j) {
        for (std::size_t c = 0; c < channels; ++c) {
          if (!ch[c].send_for(static_cast<int>(c) * per_channel + j, patience)) {
            ADD_FAILURE() << "send timed out";
            return;
          }
        }
      }
      for (auto& c : ch) c.close();
    });
  }
  EXPECT_EQ(closed_seen.load(), receivers * static_cast<int>(channels));
  int wrong = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i].load() != 1 && ++wrong <= 5) {
      ADD_FAILURE() << "value " << i << " received " << seen[i].load() << " times";
    }
  }
  EXPECT_EQ(wrong, 0);
}

TEST(Select, SelectingSendersAndReceiversLoseAndDuplicateNothing) {  // SEL-5
  // Both sides select: every value sent through any of the channels arrives exactly once.
  constexpr std::size_t channels = 3;
  const int values = scaled(20000);
  std::array<csp::channel<int>, channels> ch{csp::channel<int>(0), csp::channel<int>(0),
                                             csp::channel<int>(2)};
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(values));
  std::atomic<int> received{0};
  {
    std::jthread sender([&] {
      for (int i = 0; i < values; ++i) {
        if (csp::select(csp::on_send(ch[0], i), csp::on_send(ch[1], i), csp::on_send(ch[2], i),
                        csp::on_receive(csp::after(patience))) == channels) {
          ADD_FAILURE() << "send starved";
          return;
        }
      }
      for (auto& c : ch) c.close();
    });
    std::vector<std::jthread> receivers;
    for (int r = 0; r < 2; ++r) {
      receivers.emplace_back([&] {
        std::array<csp::channel<int>, channels> mine = ch;
        std::size_t open = channels;
        while (open > 0) {
          std::optional<int> v;
          const std::size_t k =
              csp::select(csp::on_receive(mine[0], v), csp::on_receive(mine[1], v),
                          csp::on_receive(mine[2], v), csp::on_receive(csp::after(patience)));
          if (k == channels) {
            ADD_FAILURE() << "receiver starved";
            return;
          }
          if (v) {
            seen[static_cast<std::size_t>(*v)].fetch_add(1, std::memory_order_relaxed);
            received.fetch_add(1, std::memory_order_relaxed);
          } else {
            mine[k] = nullptr;
            --open;
          }
        }
      });
    }
  }
  EXPECT_EQ(received.load(), values);
  int wrong = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (seen[i].load() != 1 && ++wrong <= 5) {
      ADD_FAILURE() << "value " << i << " received " << seen[i].load() << " times";
    }
  }
  EXPECT_EQ(wrong, 0);
}

// =============================================================================================
// The dynamic form.

TEST(SelectDynamic, FanInOverNChannels) {  // SEL-14
  constexpr std::size_t n = 8;
  const int per_producer = scaled(1000);
  std::vector<csp::channel<int>> channels(n);
  std::vector<std::jthread> producers;
  for (std::size_t p = 0; p < n; ++p) {
    producers.emplace_back([&, p] {
      for (int k = 0; k < per_producer; ++k) {
        if (!channels[p].send_for(static_cast<int>(p) * per_producer + k, patience)) return;
      }
      channels[p].close();
    });
  }

  csp::channel<int> nil{nullptr};
  std::vector<csp::receive_case<int>> cases;
  for (auto& ch : channels) cases.push_back(csp::on_receive(ch));
  std::vector<int> seen(n * static_cast<std::size_t>(per_producer), 0);
  std::vector<int> next(n, 0);  // values of one producer arrive in order
  std::size_t open = n;
  while (open > 0) {
    const std::size_t i = csp::select(cases);
    ASSERT_LT(i, n);
    std::optional<int>& value = cases[i].value();
    if (!value) {
      cases[i] = csp::on_receive(nil);  // closed: never taken again
      --open;
      continue;
    }
    ASSERT_GE(*value, 0);
    ASSERT_LT(static_cast<std::size_t>(*value), seen.size());
    ++seen[static_cast<std::size_t>(*value)];
    EXPECT_EQ(*value, static_cast<int>(i) * per_producer + next[i]);
    ++next[i];
  }
  for (std::size_t v = 0; v < seen.size(); ++v) ASSERT_EQ(seen[v], 1) << "value " << v;
}

TEST(SelectDynamic, DefaultIsTakenAsCasesSize) {  // SEL-4, SEL-14
  std::vector<csp::channel<int>> channels;
  for (int i = 0; i < 3; ++i) channels.emplace_back(1);
  std::vector<csp::receive_case<int>> cases;
  for (auto& ch : channels) cases.push_back(csp::on_receive(ch));

  EXPECT_EQ(csp::select(cases, csp::on_default()), 3u);
  int defaults = 0;
  EXPECT_EQ(csp::select(cases, csp::on_default([&] { ++defaults; })), 3u);
  EXPECT_EQ(defaults, 1);
  for (auto& c : cases) EXPECT_EQ(c.value(), std::nullopt);

  ASSERT_TRUE(channels[1].try_send(42));
  EXPECT_EQ(csp::select(cases, csp::on_default([&] { ++defaults; })), 1u);
  EXPECT_EQ(defaults, 1);
  EXPECT_EQ(cases[1].value(), 42);
  EXPECT_EQ(cases[0].value(), std::nullopt);
  EXPECT_EQ(cases[2].value(), std::nullopt);

  // Without a default the dynamic select blocks until a case is ready.
  std::jthread sender([&] { (void)channels[2].send_for(43, patience); });
  EXPECT_EQ(csp::select(cases), 2u);
  EXPECT_EQ(cases[2].value(), 43);
}

TEST(SelectDynamic, EmptyRangeWithDefaultTakesTheDefault) {
  std::vector<csp::receive_case<int>> cases;
  EXPECT_EQ(csp::select(cases, csp::on_default()), 0u);
}

TEST(SelectDynamic, ManyCasesBeyondTheInlineOrderBuffer) {  // SEL-14
  constexpr std::size_t n = 100;  // more than the 64 the order buffer holds on the stack
  std::vector<csp::channel<int>> channels;
  for (std::size_t i = 0; i < n; ++i) channels.emplace_back(1);
  std::vector<csp::receive_case<int>> cases;
  for (auto& ch : channels) cases.push_back(csp::on_receive(ch));
  for (const std::size_t i : {0u, 63u, 64u, 99u}) {
    ASSERT_TRUE(channels[i].try_send(static_cast<int>(i)));
    EXPECT_EQ(csp::select(cases, csp::on_default()), i);
    EXPECT_EQ(cases[i].value(), static_cast<int>(i));
  }
  EXPECT_EQ(csp::select(cases, csp::on_default()), n);
  // And blocking, woken from another thread.
  std::jthread sender([&] { (void)channels[77].send_for(77, patience); });
  EXPECT_EQ(csp::select(cases), 77u);
  EXPECT_EQ(cases[77].value(), 77);
}

TEST(SelectDynamic, ReceiveFromClosedAndSendToClosed) {  // SEL-7, SEL-8
  csp::channel<int> closed(1), idle(1);
  closed.close();
  std::vector<csp::receive_case<int>> receives;
  receives.push_back(csp::on_receive(idle));
  receives.push_back(csp::on_receive(closed));
  EXPECT_EQ(csp::select(receives, csp::on_default()), 1u);
  EXPECT_EQ(receives[1].value(), std::nullopt);

  std::vector<csp::send_case<int>> sends;
  sends.push_back(csp::on_send(closed, 1));
  EXPECT_EQ(panic_text([&] { csp::select(sends, csp::on_default()); }), "send on closed channel");
}

// =============================================================================================
// No allocation per select (Go's test/chan/select2.go).

void* volatile escaped_pointer = nullptr;

TEST(SelectAllocation, CounterSeesAllocations) {
  // The control for the tests below: a counter that saw nothing would prove nothing.
  if (!hooks_installed) GTEST_SKIP() << "the sanitizer's malloc hooks could not be installed";
  long allocations = 0;
  {
    allocation_counter counter;
    auto* p = new int(1);
    escaped_pointer = p;  // keeps the allocation from being optimised away
    delete static_cast<int*>(escaped_pointer);
    std::vector<int> v(100);
    escaped_pointer = v.data();
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 2);
  // Another thread's allocations are not counted.
  const long before = allocations_counted.load();
  std::thread([] { escaped_pointer = new int(2); }).join();
  delete static_cast<int*>(escaped_pointer);
  EXPECT_EQ(allocations_counted.load(), before);
}

TEST(SelectAllocation, FixedSelectAllocatesNothingOnReadyChannels) {
  if (!hooks_installed) GTEST_SKIP() << "the sanitizer's malloc hooks could not be installed";
  constexpr int iterations = 100000;
  csp::channel<int> a(1), b(1);
  ASSERT_TRUE(a.try_send(1));
  ASSERT_TRUE(b.try_send(2));
  csp::select(csp::on_receive(a), csp::on_receive(b));  // warm up per-thread state
  (void)a.try_send(1);
  (void)b.try_send(2);
  long allocations = 0;
  int failures = 0;
  {
    allocation_counter counter;
    for (int i = 0; i < iterations; ++i) {
      std::optional<int> out;
      const std::size_t taken = csp::select(csp::on_receive(a, out), csp::on_receive(b, out));
      if (!(taken == 0 ? a.try_send(1) : b.try_send(2))) ++failures;
    }
    allocations = counter.count();
  }
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(allocations, 0) << "allocations in " << iterations << " two-case selects";
}

TEST(SelectAllocation, FixedSelectAllocatesNothingOnTheDefaultPath) {
  if (!hooks_installed) GTEST_SKIP() << "the sanitizer's malloc hooks could not be installed";
  constexpr int iterations = 100000;
  csp::channel<int> a, b(1);
  csp::select(csp::on_receive(a), csp::on_receive(b), csp::on_default());
  long allocations = 0;
  int wrong = 0;
  {
    allocation_counter counter;
    for (int i = 0; i < iterations; ++i) {
      if (csp::select(csp::on_receive(a), csp::on_send(a, i), csp::on_receive(b),
                      csp::on_default()) != 3) {
        ++wrong;
      }
    }
    allocations = counter.count();
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(allocations, 0) << "allocations in " << iterations << " non-blocking selects";
}

TEST(SelectAllocation, BlockingSelectAllocatesNothing) {  // select2.go proper
  if (!hooks_installed) GTEST_SKIP() << "the sanitizer's malloc hooks could not be installed";
  // Go's select2.go: a sender feeds an unbuffered channel, the receiver selects {<-c, <-dummy}.
  // Both threads count their own allocations.
  const int iterations = scaled(100000);
  csp::channel<int> c, dummy;
  // Warm up both threads' per-thread state outside the counted part.
  std::atomic<long> sender_allocations{-1};
  std::jthread sender([&] {
    (void)c.send_for(-1, patience);
    allocation_counter counter;
    for (int i = 0; i < iterations; ++i) {
      if (!c.send_for(i, patience)) break;
    }
    sender_allocations.store(counter.count());
  });
  csp::select(csp::on_receive(c), csp::on_receive(dummy));
  long allocations = 0;
  int wrong = 0;
  {
    allocation_counter counter;
    for (int i = 0; i < iterations; ++i) {
      std::optional<int> out;
      if (csp::select(csp::on_receive(c, out), csp::on_receive(dummy)) != 0 || out != i) ++wrong;
    }
    allocations = counter.count();
  }
  sender.join();
  EXPECT_EQ(wrong, 0);
  // allocation_counter counts every thread that has its flag set, so the receiver's count may
  // include the sender's; both must be zero.
  EXPECT_EQ(allocations, 0) << "allocations in " << iterations << " blocking selects";
  EXPECT_EQ(sender_allocations.load(), 0);
}

}  // namespace
