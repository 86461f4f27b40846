// stack_pool.cpp: see stack_pool.hpp.
#include "stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "csp/detail/adaptive_mutex.hpp"

namespace csp::runtime {
namespace {

constexpr std::size_t slab_stacks = 64;
// Released stacks stay warm (their touched pages resident) up to this many per size; the
// excess is trimmed — its memory given back, its address range kept — by trim(), which
// machines idle for 20 ms call (Go's scavenger returns stack memory in the background too).
// Trimming on release instead cost a madvise, and with it a TLB shootdown of every core, per
// goroutine exit in bursts of spawns: 12 us per go() with two spawners on 2 cores.
constexpr std::size_t warm_stacks_per_size = 4096;
constexpr std::size_t trim_batch = 256;
// prefault(): stacks faulted in per call, ~10 us of work, so that the idle machine that calls it
// soon looks for goroutines again.
constexpr std::size_t prefault_batch = 4;

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_to_pages(std::size_t bytes) {
  const std::size_t page = page_size();
  return (bytes + page - 1) / page * page;
}

std::size_t guarded_stack_budget() {
  long limit = 65530;
  std::ifstream in("/proc/sys/vm/max_map_count");
  in >> limit;
  // Two mappings per guarded stack: guarded stacks may use a quarter of the limit, and the
  // rest is left to the program (its heap, libraries, thread stacks).
  return static_cast<std::size_t>(limit) / 8;
}

enum class guard_policy { budgeted, always, never };

guard_policy policy_from_environment() {
  const char* text = std::getenv("CSP_STACK_GUARD");
  if (text == nullptr) return guard_policy::budgeted;
  if (std::strcmp(text, "always") == 0) return guard_policy::always;
  if (std::strcmp(text, "never") == 0) return guard_policy::never;
  return guard_policy::budgeted;
}

// CSP_STACK_SIZE (stack_pool.hpp), or 0 when it is unset or unusable.
std::size_t stack_size_from_environment() noexcept {
  const char* text = std::getenv("CSP_STACK_SIZE");
  if (text == nullptr) return 0;
  constexpr std::size_t smallest = 16 * 1024;
  constexpr std::size_t largest = std::size_t{1} << 30;
  // A negative or overflowing number parses to a huge value, which the range check rejects.
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  unsigned long long unit = 1;
  if (end != text && (*end == 'k' || *end == 'K')) {
    unit = 1024;
    ++end;
  } else if (end != text && (*end == 'm' || *end == 'M')) {
    unit = 1024 * 1024;
    ++end;
  }
  const bool number = end != text && *end == '\0';
  if (!number || value > largest / unit || value * unit < smallest) {
    std::fprintf(
        stderr,
        "csp: ignoring CSP_STACK_SIZE=%s: want a size from 16K to 1024M (bytes, or K or M); "
        "using %zu\n",
        text, builtin_stack_size);
    return 0;
  }
  return round_to_pages(static_cast<std::size_t>(value * unit));
}

}  // namespace

struct stack_pool::state {
  // Held for a few vector operations at most: no system call runs under it.
  detail::adaptive_mutex mutex;
  std::unordered_map<std::size_t, std::vector<stack>> free;  // by usable size
  std::unordered_map<std::size_t, std::vector<stack>> slab_free;
  // Trimmed guarded stacks: mapped and guarded, memory given back.
  std::unordered_map<std::size_t, std::vector<stack>> guarded_clean;
  std::size_t warm_excess = 0;  // stacks in `free` beyond warm_stacks_per_size, all sizes
  std::uint32_t next_id = 0;
  std::size_t guarded_mapped = 0;  // guarded stacks that hold their two mappings, pooled or not
  std::size_t guarded_budget = guarded_stack_budget();
  guard_policy policy = policy_from_environment();
};

namespace {

// Moves up to `want` stacks from the back of `from` (the most recently used) to `out`.
std::size_t take_back(std::vector<stack>& from, stack* out, std::size_t want) noexcept {
  const std::size_t take = std::min(from.size(), want);
  for (std::size_t i = 0; i < take; ++i) {
    out[i] = from.back();
    from.pop_back();
  }
  return take;
}

std::size_t excess_of(std::size_t pooled) noexcept {
  return pooled > warm_stacks_per_size ? pooled - warm_stacks_per_size : 0;
}

}  // namespace

std::size_t default_stack_size() noexcept {
  static const std::size_t size = [] {
    const std::size_t chosen = stack_size_from_environment();
    return chosen != 0 ? chosen : builtin_stack_size;
  }();
  return size;
}

stack_pool& stack_pool::instance() {
  // Never destroyed: goroutines may still be parked on pooled stacks at exit.
  static stack_pool* const pool = new stack_pool();
  return *pool;
}

stack_pool::stack_pool() : state_(new state) {}

stack stack_pool::allocate(std::size_t size, stack_cache* cache) {
  const std::size_t standard = default_stack_size();
  size = round_to_pages(size == 0 ? standard : size);
  if (cache != nullptr && size == standard) {
    if (cache->count == 0) {
      // Refill half the cache in one visit to the shared pool, or, when the pool has none,
      // with fresh stacks made in one go.
      constexpr std::size_t want = stack_cache::capacity / 2;
      cache->count = take_warm(size, cache->entries, want);
      if (cache->count == 0) {
        cache->count = make_fresh(size, cache->entries, want);
        prefault_credit_.fetch_add(static_cast<std::ptrdiff_t>(cache->count),
                                   std::memory_order_relaxed);
        returned_since_fresh_.store(false, std::memory_order_relaxed);
      }
      // The cache hands out from its end; the batch came in the order the pool hands out
      // stacks one by one (the warmest first; a fresh slab's from the bottom up), which the
      // reversal keeps. Bottom up matters: a slab stack's canary lies in the page of the one
      // below it (stack_pool.hpp), and a check that reads that page before the goroutine below
      // writes it maps the zero page there, which the write must then replace (a TLB
      // shootdown on every core that runs the process).
      std::reverse(cache->entries, cache->entries + cache->count);
    }
    return cache->entries[--cache->count];
  }
  stack s;
  if (take_warm(size, &s, 1) == 0) make_fresh(size, &s, 1);
  return s;
}

bool stack_pool::allocate_warm(stack_cache& cache, stack& out) {
  // The count first, without the lock: in a loop of go() that finds none, every call asks.
  if (cache.count == 0 && warm_default_.load(std::memory_order_relaxed) != 0) {
    cache.count = take_warm(default_stack_size(), cache.entries, stack_cache::capacity / 2);
    std::reverse(cache.entries, cache.entries + cache.count);  // as allocate() does
  }
  if (cache.count == 0 || !cache.entries[cache.count - 1].warm) return false;
  out = cache.entries[--cache.count];
  return true;
}

// Up to `want` pooled stacks of `size` that goroutines used before, into `out`.
std::size_t stack_pool::take_warm(std::size_t size, stack* out, std::size_t want) {
  detail::lock_guard lock(state_->mutex);
  auto& cached = state_->free[size];
  const std::size_t before = cached.size();
  const std::size_t got = take_back(cached, out, want);
  state_->warm_excess -= excess_of(before) - excess_of(cached.size());
  publish_counts_locked();
  return got;
}

// Stacks that no goroutine has used since they were mapped or trimmed: up to `want`, at least
// one, into `out`. The system calls run outside the pool's lock: under it, a mapping's few
// microseconds would stall every machine that returns stacks meanwhile.
std::size_t stack_pool::make_fresh(std::size_t size, stack* out, std::size_t want) {
  std::size_t guarded = 0;
  std::uint32_t first_id = 0;
  {
    detail::lock_guard lock(state_->mutex);
    if (const std::size_t got = take_back(state_->guarded_clean[size], out, want)) return got;
    if (state_->policy == guard_policy::always) {
      guarded = want;
    } else if (state_->policy == guard_policy::budgeted &&
               state_->guarded_mapped < state_->guarded_budget) {
      guarded = std::min(want, state_->guarded_budget - state_->guarded_mapped);
    }
    if (guarded != 0) {
      // Counted now, so that concurrent callers stay within the budget.
      state_->guarded_mapped += guarded;
      first_id = state_->next_id;
      state_->next_id += static_cast<std::uint32_t>(guarded);
    } else if (const std::size_t got = take_back(state_->slab_free[size], out, want)) {
      return got;
    }
  }
  if (guarded != 0) {
    // One mapping for the batch, then a PROT_NONE page below each stack: the kernel splits it
    // into two mappings per stack, as separate mappings would be, for one mmap call.
    const std::size_t page = page_size();
    const std::size_t stride = size + page;
    void* base = ::mmap(nullptr, stride * guarded, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    bool mapped = base != MAP_FAILED;
    for (std::size_t i = 0; mapped && i < guarded; ++i) {
      mapped = ::mprotect(static_cast<std::byte*>(base) + i * stride, page, PROT_NONE) == 0;
    }
    if (!mapped) {
      if (base != MAP_FAILED) ::munmap(base, stride * guarded);
      detail::lock_guard lock(state_->mutex);
      state_->guarded_mapped -= guarded;
      throw std::bad_alloc();
    }
    for (std::size_t i = 0; i < guarded; ++i) {
      out[i] = stack{.bottom = static_cast<std::byte*>(base) + i * stride + page,
                     .size = size,
                     .guarded = true,
                     .id = first_id + static_cast<std::uint32_t>(i)};
    }
    return guarded;
  }
  // A new slab: one mapping of slab_stacks stacks, after a page that holds the first one's
  // canary. Each stack's range is `size` bytes; its canary takes the top of the range below it.
  const std::size_t page = page_size();
  void* base = ::mmap(nullptr, page + size * slab_stacks, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  detail::lock_guard lock(state_->mutex);
  auto& slab = state_->slab_free[size];
  for (std::size_t i = slab_stacks; i-- > 0;) {
    slab.push_back(stack{.bottom = static_cast<std::byte*>(base) + page + i * size,
                         .size = size - slab_canary_bytes,
                         .guarded = false,
                         .id = state_->next_id++});
  }
  return take_back(slab, out, want);
}

void stack_pool::release(stack s, stack_cache* cache) noexcept {
  s.warm = true;
  if (cache != nullptr && s.size_class() == default_stack_size()) {
    if (cache->count == stack_cache::capacity) {
      // Hand the older half back to the shared pool in one visit.
      constexpr std::size_t give = stack_cache::capacity / 2;
      detail::lock_guard lock(state_->mutex);
      auto& cached = state_->free[s.size_class()];
      const std::size_t before = cached.size();
      cached.insert(cached.end(), cache->entries, cache->entries + give);
      std::copy(cache->entries + give, cache->entries + cache->count, cache->entries);
      cache->count -= give;
      returned_since_fresh_.store(true, std::memory_order_relaxed);
      state_->warm_excess += excess_of(cached.size()) - excess_of(before);
      publish_counts_locked();
    }
    cache->entries[cache->count++] = s;
    return;
  }
  detail::lock_guard lock(state_->mutex);
  auto& cached = state_->free[s.size_class()];
  cached.push_back(s);  // may allocate; std::bad_alloc here ends the process, as in Go
  returned_since_fresh_.store(true, std::memory_order_relaxed);
  if (cached.size() > warm_stacks_per_size) ++state_->warm_excess;
  publish_counts_locked();
}

// The lock-free copies that prefault_wanted() and trim_pending() read; with the lock held.
void stack_pool::publish_counts_locked() noexcept {
  excess_.store(state_->warm_excess, std::memory_order_relaxed);
  const auto found = state_->free.find(default_stack_size());
  warm_default_.store(found == state_->free.end() ? 0 : found->second.size(),
                      std::memory_order_relaxed);
}

void stack_pool::prefault() noexcept {
  stack batch[prefault_batch];
  std::size_t count = 0;
  try {
    count = make_fresh(default_stack_size(), batch, prefault_batch);
  } catch (const std::bad_alloc&) {
    // Out of address space or mappings: go() will meet the error itself. Want no more.
    prefault_credit_.store(0, std::memory_order_relaxed);
    return;
  }
  prefault_credit_.fetch_sub(static_cast<std::ptrdiff_t>(count), std::memory_order_relaxed);
  // A write, not a read: a read would map the zero page, which go()'s write would then have to
  // replace (a TLB shootdown of every core). Zero is what the page holds already, and all a
  // slab stack's canary (in the same page, for the stack above) may hold.
  for (std::size_t i = 0; i < count; ++i) {
    std::atomic_ref<std::byte>(*(batch[i].top() - 1))
        .store(std::byte{0}, std::memory_order_relaxed);
    batch[i].warm = true;
  }
  detail::lock_guard lock(state_->mutex);
  auto& cached = state_->free[default_stack_size()];
  const std::size_t before = cached.size();
  // At the front: take_warm() hands out from the back, stacks whose pages are cached too.
  cached.insert(cached.begin(), batch, batch + count);
  state_->warm_excess += excess_of(cached.size()) - excess_of(before);
  publish_counts_locked();
}

bool stack_pool::trim() noexcept {
  if (trimming_.exchange(true, std::memory_order_acquire)) return false;
  stack batch[trim_batch];
  std::size_t count = 0;
  {
    detail::lock_guard lock(state_->mutex);
    for (auto& [size, cached] : state_->free) {
      if (cached.size() <= warm_stacks_per_size) continue;
      // The coldest first: stacks are reused from the back, so the front was idle longest.
      const std::size_t take = std::min(cached.size() - warm_stacks_per_size, trim_batch - count);
      std::copy_n(cached.begin(), take, batch + count);
      cached.erase(cached.begin(), cached.begin() + static_cast<std::ptrdiff_t>(take));
      count += take;
      state_->warm_excess -= take;
      if (count == trim_batch) break;
    }
    publish_counts_locked();
  }
  // Outside the lock. Each call interrupts every other core that runs the process, to flush its
  // TLB (in a VM, that costs exits on both sides), so neighbours go in one call: sorted by
  // address, stacks whose ranges meet are one range, and so are guarded stacks one guard page
  // apart (that page, PROT_NONE and never touched, is the upper stack's own guard).
  // A range rounds up to whole pages: a slab stack's last page holds the canary of the stack
  // above it too, which reads zero afterwards, as an intact canary does.
  std::sort(batch, batch + count,
            [](const stack& a, const stack& b) { return std::less<>()(a.bottom, b.bottom); });
  for (std::size_t first = 0; first < count;) {
    std::byte* const start = batch[first].bottom;
    std::byte* end = start + round_to_pages(batch[first].size);
    std::size_t next = first + 1;
    for (; next < count && (batch[next].bottom == end ||
                            (batch[next].guarded && batch[next].bottom == end + page_size()));
         ++next) {
      end = batch[next].bottom + round_to_pages(batch[next].size);
    }
    ::madvise(start, static_cast<std::size_t>(end - start), MADV_DONTNEED);
    first = next;
  }
  detail::lock_guard lock(state_->mutex);
  for (std::size_t i = 0; i < count; ++i) {
    stack& s = batch[i];
    s.warm = false;
    (s.guarded ? state_->guarded_clean : state_->slab_free)[s.size_class()].push_back(s);
  }
  trimming_.store(false, std::memory_order_release);
  return true;
}

bool stack_pool::slab_canary_intact(const stack& s) noexcept {
  std::uint64_t any = 0;
  const std::byte* const canary = s.bottom - slab_canary_bytes;
  for (std::size_t i = 0; i < slab_canary_bytes; i += sizeof any) {
    std::uint64_t word;
    std::memcpy(&word, canary + i, sizeof word);
    any |= word;
  }
  return any == 0;
}

}  // namespace csp::runtime
