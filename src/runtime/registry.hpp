// registry.hpp: the table of live goroutines that diagnostics read (dumps, deadlock and leak
// reports), at a cost to go() of one store and to a goroutine's exit of one store and a load.
//
// Go keeps every g it ever made in allgs and adds to it only when it makes a new g, not when
// it reuses one; csp does the same with stacks. Every stack the pool creates gets a small id
// for life (stack::id), and the registry holds one slot per stack id: the goroutine now
// running on that stack, or null. Spawning publishes the record into its stack's slot; exit
// clears it. Nothing is linked, so spawning and exiting goroutines on different threads share
// no lock and no cache line besides their own slot.
//
// Reading: for_each() walks the slots under a lock that only readers take. A goroutine that
// exits while a reader walks must not free its record under the reader's eyes, so leave()
// clears the slot and then, if a reader is announced, waits for the walk to end; the reader
// announces itself before it loads any slot. Both sides use seq_cst, so either the reader sees
// the slot cleared or the exiting goroutine sees the reader (Dekker).
//
// Memory ordering: enter() publishes the record with a release store; for_each() loads slots
// with seq_cst (acquire included), so a visited record's fields written before enter() are
// visible. Fields the goroutine changes while it runs (status, what it waits on) are the
// record's own business (atomics).
#pragma once

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
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Makes sure stack `id` has a slot. Throws std::bad_alloc if a new chunk cannot be had.
  void reserve(std::uint32_t id) { (void)slot_for(id); }

  // Publishes `record` as the occupant of stack `id`, whose slot was reserved.
  void enter(std::uint32_t id, Record* record) noexcept {
    chunk* c = chunks_[id / chunk_size].load(std::memory_order_acquire);
    c->slots[id % chunk_size].store(record, std::memory_order_release);
  }

  // Clears stack `id`'s slot; returns once no reader can still be looking at its record.
  void leave(std::uint32_t id) noexcept {
    chunk* c = chunks_[id / chunk_size].load(std::memory_order_acquire);
    c->slots[id % chunk_size].store(nullptr, std::memory_order_seq_cst);
    if (readers_.load(std::memory_order_seq_cst) != 0) {
      detail::lock_guard wait_for_the_walk(read_lock_);
    }
  }

  // Calls visit(record) for every live record, in the order `before` gives (oldest first).
  // Records cannot exit meanwhile: keep `visit` short.
  template <class Before, class Visit>
  void for_each(Before&& before, Visit&& visit) {
    readers_.fetch_add(1, std::memory_order_seq_cst);
    {
      detail::lock_guard walk(read_lock_);
      std::vector<Record*> live;
      for (auto& installed : chunks_) {
        chunk* c = installed.load(std::memory_order_acquire);
        if (c == nullptr) continue;
        for (auto& slot : c->slots) {
          if (Record* record = slot.load(std::memory_order_seq_cst)) live.push_back(record);
        }
      }
      std::sort(live.begin(), live.end(), before);
      for (Record* record : live) visit(*record);
    }
    readers_.fetch_sub(1, std::memory_order_seq_cst);
  }

 private:
  static constexpr std::size_t chunk_size = 4096;
  static constexpr std::size_t max_chunks = 16384;  // 67 million stacks

  struct chunk {
    std::atomic<Record*> slots[chunk_size] = {};
  };

  std::atomic<Record*>& slot_for(std::uint32_t id) {
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
    return c->slots[id % chunk_size];
  }

  std::atomic<chunk*> chunks_[max_chunks] = {};
  std::atomic<int> readers_{0};
  detail::adaptive_mutex read_lock_;
};

}  // namespace csp::runtime
