// record_pool.hpp: homes for the records of goroutines that do not have a stack yet.
//
// A goroutine's record and closure normally live at the top of its own stack (scheduler::spawn):
// one allocation, and the record shares a page with the frames a hand-off touches. But writing
// them there faults that page in, and a goroutine that waits to run holds it. A loop of go()
// that never blocks, at one worker, made every goroutine before the first one ran: 100,000 page
// faults (12-27 us each on this project's VM) and 4 KiB each (Go: about 410 bytes). When no
// warm stack is at hand, go() puts the record and closure in a home from this pool instead. The
// goroutine takes its stack when it first runs, usually the one an exited goroutine just gave
// back, and its record and closure move onto it, which frees the home at once
// (scheduler::take_stack; docs/runtime.md, "Stacks").
//
// A home is `home_size` bytes, aligned to a cache line: the record at its start, the closure
// after it (at most `closure_capacity` bytes; a larger closure goes on a stack as before), and
// in its last word its occupant word for the registry (registry.hpp), which plays the part a
// stack's top word plays for records on stacks.
//
// Where homes come from: a processor's own cache of `record_cache::capacity` (only its machine
// touches it, as with stacks), refilled and drained half at a time from chunks under a lock.
// A chunk is 2 MiB of address space, aligned to its size; past the first two, chunks are marked
// for transparent huge pages, so that a big burst of homes costs one page fault per 6,552 of
// them where the kernel gives huge pages, and one per 13 where it does not (a fault is 12-27 us
// on this project's VM in a slow spell). Its homes are handed out from a bump index, then from the
// list of those given back, and their registry slots (ids from the top of the table down) are
// registered when the chunk is mapped, so go() writes nothing shared. A chunk whose homes have all
// come back, other than the one homes are taken from, gives its memory back to the kernel
// (MADV_DONTNEED) and reads as fresh afterwards: a burst of a million goroutines that never ran
// leaves about one chunk behind. Chunks are never unmapped, so the registry's entries for their
// homes stay valid (a trimmed home's occupant word reads zero: null).
//
// Thread safety: allocate(), and release() with a cache, only from the machine that owns the
// cache; release() without one (null), from anywhere. Chunks' bookkeeping is under `lock_`; mapping
// a chunk (once per 6,552 homes) and trimming one happen under it too.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "csp/detail/adaptive_mutex.hpp"
#include "csp/detail/thread_annotations.hpp"
#include "registry.hpp"
#include "sanitizers.hpp"

namespace csp::runtime {

// A processor's own free homes.
struct record_cache {
  static constexpr std::size_t capacity = 32;
  std::byte* entries[capacity] = {};
  std::size_t count = 0;
};

template <class Record>
class record_pool {
 public:
  static constexpr std::size_t home_size = 320;
  static constexpr std::size_t record_bytes = (sizeof(Record) + 63) & ~std::size_t{63};
  static constexpr std::size_t closure_capacity = home_size - record_bytes - sizeof(Record*);
  static_assert(alignof(Record) <= 64 && closure_capacity >= 48,
                "a home holds the record and a closure of a few captures");
  // A chunk: 2 MiB, aligned to its size (one huge page where the kernel gives them), whose
  // first home's bytes hold the chunk's bookkeeping.
  static constexpr std::size_t chunk_bytes = std::size_t{2} << 20;
  static constexpr std::size_t homes_per_chunk = chunk_bytes / home_size - 1;
  // Chunks made before the pool asks for huge pages (make_chunk()).
  static constexpr std::size_t small_chunks = 2;

  explicit record_pool(registry<Record>& table) noexcept : registry_(table) {}
  record_pool(const record_pool&) = delete;
  record_pool& operator=(const record_pool&) = delete;

  // Homes handed out (those in processors' caches included), as of the last visit to the
  // chunks. Cheap; no lock.
  std::size_t out() const noexcept { return out_.load(std::memory_order_relaxed); }

  // Where its closure goes; the record goes at the home's first byte.
  static std::byte* closure_of(std::byte* home) noexcept { return home + record_bytes; }
  // The home's occupant word for the registry: null while no goroutine lives there.
  static Record** occupant(std::byte* home) noexcept {
    return reinterpret_cast<Record**>(home + home_size - sizeof(Record*));
  }

  // A home whose slot is in the registry and whose occupant word is null. Throws std::bad_alloc.
  std::byte* allocate(record_cache& cache) {
    if (cache.count == 0) cache.count = take(cache.entries, record_cache::capacity / 2);
    return cache.entries[--cache.count];
  }

  // Gives back a home whose occupant word the caller has cleared (registry::leave()).
  void release(std::byte* home, record_cache* cache) noexcept {
    if (cache == nullptr) {
      give(&home, 1);
      return;
    }
    if (cache->count == record_cache::capacity) {
      // The older half back in one visit.
      constexpr std::size_t half = record_cache::capacity / 2;
      give(cache->entries, half);
      std::copy(cache->entries + half, cache->entries + cache->count, cache->entries);
      cache->count -= half;
    }
    cache->entries[cache->count++] = home;
  }

 private:
  // In the chunk's first home. Zero (a fresh or trimmed chunk) reads as: none handed out.
  struct chunk {
    std::byte* free;         // homes given back, linked through their first bytes
    std::size_t handed;      // homes below this index were handed out at least once
    std::size_t out;         // homes handed out now (in caches included)
    chunk* next_open;        // in open_: chunks with a home to give
    std::uint32_t first_id;  // the registry slot of its first home
    // Whether it is in open_: a home to give, given back or never handed out.
    bool open() const noexcept { return free != nullptr || handed < homes_per_chunk; }
  };
  static_assert(sizeof(chunk) <= home_size);

  static chunk* chunk_of(std::byte* home) noexcept {
    return reinterpret_cast<chunk*>(reinterpret_cast<std::uintptr_t>(home) & ~(chunk_bytes - 1));
  }
  static std::byte* home_at(chunk* c, std::size_t index) noexcept {
    return reinterpret_cast<std::byte*>(c) + (index + 1) * home_size;
  }

  // Up to `want` homes (at least one) into `out`: from the oldest open chunk, so that homes
  // given back to the others gather there until those are wholly free and trimmed.
  std::size_t take(std::byte** out, std::size_t want) {
    detail::lock_guard guard(lock_);
    if (open_ == nullptr) open_chunk(make_chunk());
    std::size_t taken = 0;
    while (taken < want && open_ != nullptr) {
      chunk* const c = open_;
      if (c->free != nullptr) {
        out[taken++] = c->free;
        c->free = *reinterpret_cast<std::byte**>(c->free);
      } else {
        out[taken++] = home_at(c, c->handed++);
      }
      ++c->out;
      if (!c->open()) {
        open_ = c->next_open;
        if (open_ == nullptr) last_open_ = nullptr;
      }
    }
    out_.store(out_.load(std::memory_order_relaxed) + taken, std::memory_order_relaxed);
    return taken;
  }

  void give(std::byte* const* homes, std::size_t count) noexcept {
    detail::lock_guard guard(lock_);
    for (std::size_t i = 0; i < count; ++i) {
      chunk* const c = chunk_of(homes[i]);
      const bool was_open = c->open();
      *reinterpret_cast<std::byte**>(homes[i]) = c->free;
      c->free = homes[i];
      --c->out;
      if (!was_open) open_chunk(c);
      if (c->out == 0 && c != open_) trim(c);
    }
    out_.store(out_.load(std::memory_order_relaxed) - count, std::memory_order_relaxed);
  }

  // At the end of the open list.
  void open_chunk(chunk* c) noexcept CSP_REQUIRES(lock_) {
    c->next_open = nullptr;
    (last_open_ != nullptr ? last_open_->next_open : open_) = c;
    last_open_ = c;
  }

  // A chunk none of whose homes is out, and not the one homes are taken from: its memory goes
  // back to the kernel (a burst of goroutines that never ran leaves nothing behind). It reads as
  // fresh afterwards, occupant words included, and goes to the end of the open list; it stays
  // mapped, so the registry's entries for its homes stay valid.
  void trim(chunk* c) noexcept CSP_REQUIRES(lock_) {
    chunk* before = open_;
    while (before->next_open != c) before = before->next_open;
    before->next_open = c->next_open;
    if (last_open_ == c) last_open_ = before;
    const std::uint32_t first_id = c->first_id;
    ::madvise(c, chunk_bytes, MADV_DONTNEED);
    c->first_id = first_id;
    open_chunk(c);
  }

  // A new chunk, its homes registered. Under lock_: rare (a chunk holds 6,552 homes).
  chunk* make_chunk() CSP_REQUIRES(lock_) {
    if (next_id_ < registry<Record>::capacity / 2 + homes_per_chunk) throw std::bad_alloc();
    // Twice the size, to cut out an aligned chunk.
    void* mapped = ::mmap(nullptr, 2 * chunk_bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(mapped);
    const std::uintptr_t aligned = (start + chunk_bytes - 1) & ~(chunk_bytes - 1);
    if (aligned != start) ::munmap(mapped, aligned - start);
    ::munmap(reinterpret_cast<void*>(aligned + chunk_bytes), start + chunk_bytes - aligned);
    auto* c = reinterpret_cast<chunk*>(aligned);
    // Past the first few chunks, a burst of goroutines waits to run: one fault for a chunk where
    // transparent huge pages are on (6,552 homes; 4 KiB pages cost a fault per 13 of them,
    // 12-27 us each on this project's VM). Not before: a huge page is resident as a whole, and
    // a few thousand homes in use spread over many chunks then cost megabytes (spawning 100,000
    // goroutines at two workers, whose homes do not pile up: 31 -> 191 bytes a goroutine).
    if (++chunks_made_ > small_chunks) ::madvise(c, chunk_bytes, MADV_HUGEPAGE);
    // Ids from the top down, stacks' from the bottom up: they would meet only past
    // registry::capacity / 2 homes (12,000 chunks, 24 GiB of records).
    next_id_ -= static_cast<std::uint32_t>(homes_per_chunk);
    c->first_id = next_id_;
    // Should the registry fail to grow (std::bad_alloc), the chunk stays mapped and unused.
    for (std::size_t i = 0; i < homes_per_chunk; ++i) {
      registry_.reserve(c->first_id + static_cast<std::uint32_t>(i), occupant(home_at(c, i)));
    }
    // LeakSanitizer does not scan mappings: a closure's heap memory, held only here, would
    // read as leaked.
    register_stack_root(c, chunk_bytes);
    return c;
  }

  registry<Record>& registry_;
  detail::adaptive_mutex lock_;
  chunk* open_ CSP_GUARDED_BY(lock_) = nullptr;  // chunks with a home to give, oldest first
  chunk* last_open_ CSP_GUARDED_BY(lock_) = nullptr;
  std::size_t chunks_made_ CSP_GUARDED_BY(lock_) = 0;
  std::atomic<std::size_t> out_{0};  // written under lock_
  std::uint32_t next_id_ CSP_GUARDED_BY(lock_) = registry<Record>::capacity;
};

}  // namespace csp::runtime
