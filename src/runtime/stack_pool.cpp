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

namespace csp::runtime {
namespace {

constexpr std::size_t canary_size = 256;
constexpr std::size_t slab_stacks = 64;
// Released stacks stay warm (their touched pages resident) up to this many per size; the
// excess is trimmed — its memory given back, its address range kept — by trim(), which
// machines idle for 20 ms call (Go's scavenger returns stack memory in the background too).
// Trimming on release instead cost a madvise, and with it a TLB shootdown of every core, per
// goroutine exit in bursts of spawns: 12 us per go() with two spawners on 2 cores.
constexpr std::size_t warm_stacks_per_size = 4096;
constexpr std::size_t trim_batch = 256;

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

}  // namespace

struct stack_pool::state {
  std::mutex mutex;
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

std::size_t excess_of(std::size_t pooled) noexcept {
  return pooled > warm_stacks_per_size ? pooled - warm_stacks_per_size : 0;
}

}  // namespace

stack_pool& stack_pool::instance() {
  // Never destroyed: goroutines may still be parked on pooled stacks at exit.
  static stack_pool* const pool = new stack_pool();
  return *pool;
}

stack_pool::stack_pool() : state_(new state) {}

stack stack_pool::allocate(std::size_t size, stack_cache* cache) {
  size = round_to_pages(size == 0 ? default_stack_size : size);
  if (cache != nullptr && size == default_stack_size) {
    if (cache->count == 0) {
      // Refill half the cache in one visit to the shared pool.
      std::lock_guard lock(state_->mutex);
      auto& cached = state_->free[size];
      const std::size_t take = std::min(cached.size(), stack_cache::capacity / 2);
      state_->warm_excess -= excess_of(cached.size()) - excess_of(cached.size() - take);
      excess_.store(state_->warm_excess, std::memory_order_relaxed);
      for (std::size_t i = 0; i < take; ++i) {
        cache->entries[cache->count++] = cached.back();
        cached.pop_back();
      }
    }
    if (cache->count != 0) {
      stack s = cache->entries[--cache->count];
      return s;
    }
  }
  std::unique_lock lock(state_->mutex);
  if (auto& cached = state_->free[size]; !cached.empty()) {
    if (cached.size() > warm_stacks_per_size) {
      --state_->warm_excess;
      excess_.store(state_->warm_excess, std::memory_order_relaxed);
    }
    stack s = cached.back();
    cached.pop_back();
    lock.unlock();
    return s;
  }
  if (auto& clean = state_->guarded_clean[size]; !clean.empty()) {
    stack s = clean.back();
    clean.pop_back();
    lock.unlock();
    return s;
  }
  const bool guard =
      state_->policy == guard_policy::always ||
      (state_->policy == guard_policy::budgeted && state_->guarded_mapped < state_->guarded_budget);
  if (guard) {
    const std::size_t page = page_size();
    void* base = ::mmap(nullptr, size + page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    if (::mprotect(base, page, PROT_NONE) != 0) {
      ::munmap(base, size + page);
      throw std::bad_alloc();
    }
    ++state_->guarded_mapped;
    const stack s{static_cast<std::byte*>(base) + page, size, true, state_->next_id++};
    lock.unlock();
    return s;
  }
  auto& slab = state_->slab_free[size];
  if (slab.empty()) {
    void* base = ::mmap(nullptr, size * slab_stacks, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    for (std::size_t i = slab_stacks; i-- > 0;) {
      slab.push_back(
          stack{static_cast<std::byte*>(base) + i * size, size, false, state_->next_id++});
    }
  }
  stack s = slab.back();
  slab.pop_back();
  lock.unlock();
  return s;
}

void stack_pool::release(stack s, stack_cache* cache) noexcept {
  if (cache != nullptr && s.size == default_stack_size) {
    if (cache->count == stack_cache::capacity) {
      // Hand the older half back to the shared pool in one visit.
      constexpr std::size_t give = stack_cache::capacity / 2;
      std::lock_guard lock(state_->mutex);
      auto& cached = state_->free[s.size];
      const std::size_t before = cached.size();
      cached.insert(cached.end(), cache->entries, cache->entries + give);
      std::copy(cache->entries + give, cache->entries + cache->count, cache->entries);
      cache->count -= give;
      state_->warm_excess += excess_of(cached.size()) - excess_of(before);
      excess_.store(state_->warm_excess, std::memory_order_relaxed);
    }
    cache->entries[cache->count++] = s;
    return;
  }
  std::lock_guard lock(state_->mutex);
  auto& cached = state_->free[s.size];
  cached.push_back(s);  // may allocate; std::bad_alloc here ends the process, as in Go
  if (cached.size() > warm_stacks_per_size) {
    ++state_->warm_excess;
    excess_.store(state_->warm_excess, std::memory_order_relaxed);
  }
}

void stack_pool::trim() noexcept {
  stack batch[trim_batch];
  std::size_t count = 0;
  {
    std::lock_guard lock(state_->mutex);
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
    excess_.store(state_->warm_excess, std::memory_order_relaxed);
  }
  // Outside the lock: each call may interrupt every core to flush its TLB.
  for (std::size_t i = 0; i < count; ++i) ::madvise(batch[i].bottom, batch[i].size, MADV_DONTNEED);
  std::lock_guard lock(state_->mutex);
  for (std::size_t i = 0; i < count; ++i) {
    const stack& s = batch[i];
    (s.guarded ? state_->guarded_clean : state_->slab_free)[s.size].push_back(s);
  }
}

bool stack_pool::canary_intact(const stack& s) noexcept {
  if (s.guarded) return true;  // the guard page catches an overflow at once
  std::uint64_t any = 0;
  for (std::size_t i = 0; i < canary_size; i += sizeof any) {
    std::uint64_t word;
    std::memcpy(&word, s.bottom + i, sizeof word);
    any |= word;
  }
  return any == 0;
}

}  // namespace csp::runtime
