// stack_pool.cpp: see stack_pool.hpp.
#include "stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

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
constexpr std::uint64_t canary_word = 0x6373702d73746b21ULL;  // "csp-stk!"
constexpr std::size_t slab_stacks = 64;
constexpr std::size_t cached_stacks_per_size = 4096;

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

void write_canary(std::byte* bottom) {
  for (std::size_t i = 0; i < canary_size; i += sizeof canary_word) {
    std::memcpy(bottom + i, &canary_word, sizeof canary_word);
  }
}

}  // namespace

struct stack_pool::state {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<stack>> free;  // by usable size
  std::unordered_map<std::size_t, std::vector<stack>> slab_free;
  std::size_t guarded_mapped = 0;  // guarded stacks that hold their two mappings, pooled or not
  std::size_t guarded_budget = guarded_stack_budget();
  guard_policy policy = policy_from_environment();
};

stack_pool& stack_pool::instance() {
  // Never destroyed: goroutines may still be parked on pooled stacks at exit.
  static stack_pool* const pool = new stack_pool();
  return *pool;
}

stack_pool::stack_pool() : state_(new state) {}

stack stack_pool::allocate(std::size_t size) {
  size = round_to_pages(size == 0 ? default_stack_size : size);
  std::unique_lock lock(state_->mutex);
  if (auto& cached = state_->free[size]; !cached.empty()) {
    stack s = cached.back();
    cached.pop_back();
    lock.unlock();
    write_canary(s.bottom);
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
    lock.unlock();
    stack s{static_cast<std::byte*>(base) + page, size, true};
    write_canary(s.bottom);
    return s;
  }
  auto& slab = state_->slab_free[size];
  if (slab.empty()) {
    void* base = ::mmap(nullptr, size * slab_stacks, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    for (std::size_t i = slab_stacks; i-- > 0;) {
      slab.push_back(stack{static_cast<std::byte*>(base) + i * size, size, false});
    }
  }
  stack s = slab.back();
  slab.pop_back();
  lock.unlock();
  write_canary(s.bottom);
  return s;
}

void stack_pool::release(stack s) noexcept {
  std::lock_guard lock(state_->mutex);
  auto& cached = state_->free[s.size];
  if (cached.size() < cached_stacks_per_size) {
    cached.push_back(s);
    return;
  }
  if (s.guarded) {
    const std::size_t page = page_size();
    ::munmap(s.bottom - page, s.size + page);
    --state_->guarded_mapped;
  } else {
    // Slab stacks share a mapping: give the memory back, keep the address range for reuse.
    ::madvise(s.bottom, s.size, MADV_DONTNEED);
    state_->slab_free[s.size].push_back(s);
  }
}

bool stack_pool::canary_intact(const stack& s) noexcept {
  for (std::size_t i = 0; i < canary_size; i += sizeof canary_word) {
    std::uint64_t word;
    std::memcpy(&word, s.bottom + i, sizeof word);
    if (word != canary_word) return false;
  }
  return true;
}

}  // namespace csp::runtime
