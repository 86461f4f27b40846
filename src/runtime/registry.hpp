// registry.hpp: the table of live goroutines that diagnostics read (dumps, deadlock and leak
// reports), at a cost to go() of one store and to a goroutine's exit of a store and a load,
// all in the goroutine's own memory.
//
// Go keeps every g it ever made in allgs and adds to it only when it makes a new g, not when
// it reuses one; csp does the same with stacks. Every stack the pool creates gets a small id
// for life (stack::id), and the registry's table maps each id to the stack's occupant word: a
// pointer-sized word in the stack's top bytes, beside the goroutine record, holding the record
// of the goroutine on that stack, or null. The table is written once per stack, on its first
// use; spawning stores the record into the occupant word, exit clears it. Nothing shared is
// written per goroutine, so spawning and exiting goroutines on different threads share no lock
// and no cache line. (A first version kept the occupants themselves in the table: neighbouring
// stacks' words shared cache lines between the spawning and the exiting core, ~10% of go().)
// The word is accessed through std::atomic_ref: the stack's memory is zero when fresh or
// trimmed, which reads as null.
//
// A goroutine spawned while no warm stack is at hand has its record in a home from the record
// pool (record_pool.hpp) until it runs, and keeps it there: homes have slot ids and occupant
// words too, ids from the top of the table down, registered when the pool maps their chunk.
// Like stacks, homes are never unmapped, so their entries never dangle.
//
// Reading: for_each() walks the slots under a lock that only readers take. A goroutine that
// exits while a reader walks must not free its record under the reader's eyes, so leave()
// clears the slot and then, if a reader is announced, waits for the walk to end; the reader
// announces itself before it loads any slot, so either the reader sees the slot cleared or the
// exiting goroutine sees the reader (Dekker). The fence that Dekker needs between a store and
// a load is paid by the rare side: the reader issues membarrier(PRIVATE_EXPEDITED), which runs
// a full barrier on every thread of the process, and leave() needs only a compiler barrier
// (folly's asymmetric fence). Without membarrier (old kernels; ThreadSanitizer, which cannot
// see it) both sides use seq_cst, which costs every goroutine exit a locked instruction: about
// 8% of go() on this VM.
//
// Memory ordering: enter() publishes the record with a release store; for_each() loads slots
// with seq_cst (acquire included), so a visited record's fields written before enter() are
// visible. Fields the goroutine changes while it runs (status, what it waits on) are the
// record's own business (atomics).
#pragma once

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "csp/detail/adaptive_mutex.hpp"

namespace csp::runtime {

template <class Record>
class registry {
 private:
  static constexpr std::size_t chunk_size = 4096;
  static constexpr std::size_t max_chunks = 16384;  // 67 million slots

 public:
  // Slot ids run from 0 to capacity - 1: stacks take them from the bottom up (stack_pool),
  // record homes from the top down (record_pool).
  static constexpr std::uint32_t capacity = chunk_size * max_chunks;

  registry() : asymmetric_(register_for_heavy_barrier()) {}
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Makes sure stack `id` has a table entry pointing at `occupant`, its occupant word. Throws
  // std::bad_alloc if a new chunk of the table cannot be had.
  void reserve(std::uint32_t id, Record** occupant) {
    std::atomic<Record**>& entry = entry_for(id);
    // Read first: the entry is written once per stack, and then only read.
    if (entry.load(std::memory_order_relaxed) != occupant) {
      entry.store(occupant, std::memory_order_release);
    }
  }

  // Publishes `record` in an occupant word that reserve() registered.
  static void enter(Record** occupant, Record* record) noexcept {
    std::atomic_ref<Record*>(*occupant).store(record, std::memory_order_release);
  }

  // Clears an occupant word; returns once no reader can still be looking at its record.
  void leave(Record** occupant) noexcept {
    std::atomic_ref<Record*> word(*occupant);
    bool reader;
    if (asymmetric_) {
      word.store(nullptr, std::memory_order_release);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the reader's membarrier does the rest
      reader = readers_.load(std::memory_order_relaxed) != 0;
    } else {
      word.store(nullptr, std::memory_order_seq_cst);
      reader = readers_.load(std::memory_order_seq_cst) != 0;
    }
    if (reader) detail::lock_guard wait_for_the_walk(read_lock_);
  }

  // Calls visit(record) for every live record, in the order `before` gives.
  // Records cannot exit meanwhile: keep `visit` short.
  template <class Before, class Visit>
  void for_each(Before&& before, Visit&& visit) {
    readers_.fetch_add(1, std::memory_order_seq_cst);
    {
      detail::lock_guard walk(read_lock_);
      if (asymmetric_) heavy_barrier();
      std::vector<Record*> live;
      for (auto& installed : chunks_) {
        chunk* c = installed.load(std::memory_order_acquire);
        if (c == nullptr) continue;
        for (auto& entry : c->entries) {
          Record** occupant = entry.load(std::memory_order_acquire);
          if (occupant == nullptr) continue;
          if (Record* record =
                  std::atomic_ref<Record*>(*occupant).load(std::memory_order_seq_cst)) {
            live.push_back(record);
          }
        }
      }
      std::sort(live.begin(), live.end(), before);
      for (Record* record : live) visit(*record);
    }
    readers_.fetch_sub(1, std::memory_order_seq_cst);
  }

 private:
  struct chunk {
    std::atomic<Record**> entries[chunk_size] = {};
  };

  std::atomic<Record**>& entry_for(std::uint32_t id) {
    std::atomic<chunk*>& installed = chunks_[id / chunk_size];
    chunk* c = installed.load(std::memory_order_acquire);
    if (c == nullptr) [[unlikely]] {
      // Stack ids are dense, so a new chunk is needed about once per 4,096 stacks. Installed
      // by CAS: two spawners may race for it.
      auto* fresh = new chunk();
      if (installed.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
        c = fresh;
      } else {
        delete fresh;
      }
    }
    return c->entries[id % chunk_size];
  }

  // Registers the process for membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); false where that
  // is unavailable, or meaningless to the tools (ThreadSanitizer).
  static bool register_for_heavy_barrier() noexcept {
#if defined(__SANITIZE_THREAD__)
    return false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return false;
#endif
#endif
    return ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  }
  static void heavy_barrier() noexcept {
    ::syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  }

  // What every exit reads, on a cache line of its own: beside the scheduler's counters, which
  // every spawn and exit writes, it would bounce between the spawning and the exiting core.
  alignas(64) const bool asymmetric_;
  std::atomic<int> readers_{0};
  alignas(64) std::atomic<chunk*> chunks_[max_chunks] = {};
  detail::adaptive_mutex read_lock_;
};

}  // namespace csp::runtime
