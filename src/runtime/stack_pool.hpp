// stack_pool.hpp: goroutine stacks — mmap'd, lazily committed, pooled, overflow-checked.
//
// A stack is address space reserved with MAP_NORESERVE: a page costs memory only once the
// goroutine touches it, so the default 256 KiB stack of a goroutine that uses 3 KiB costs one
// page. Released stacks go back to a pool and are reused as they are (their touched pages stay
// resident), so spawning does not call the kernel in steady state. Beyond 4,096 pooled stacks
// of a size, idle machines trim the coldest (trim(): their memory goes back to the kernel,
// their address range and guard page stay for reuse), so a burst of goroutines leaves no
// lasting memory behind and costs no system call while it runs. Stacks are never unmapped.
// The other way round, while a burst of goroutines that stay alive takes fresh stacks, idle
// machines fault in the top pages of the next few (prefault()), so that the spawner does not
// take every page fault itself.
//
// Overflow protection, in the default configuration:
//   - guarded stacks: a PROT_NONE page below the stack, so an overflow faults at once. Each
//     costs two kernel memory mappings, and Linux allows vm.max_map_count of them per process
//     (65,530 on a stock kernel), so guarded stacks are handed out while their mappings,
//     pooled ones included, use at most a quarter of that limit (about 8,000 stacks);
//   - beyond that, stacks come from slabs of 64 stacks in one mapping, without guard pages.
//     Below each one's lowest usable byte lie 256 bytes of canary, checked every time its
//     goroutine switches out and when it exits: an overflow that reaches it stops the process
//     with a report instead of running on with another goroutine's memory silently
//     corrupted. This is the documented equivalent of a guard page that lets 100,000 and
//     more goroutines park on a stock kernel; a frame larger than the canary that skips it is
//     not caught. The canary's value is zero, which the fresh (or trimmed) mapping already
//     holds, so it is never written; an overflow is any non-zero byte there (a call's return
//     address is never zero), and one that writes only zeros is not caught.
//     Where the canary lies: at the very top of the slab's previous stack's range, above that
//     stack's usable bytes (the slab's first stack has a page of its own below it). There, it
//     shares a page with the neighbour's goroutine record, which is resident while the
//     neighbour is in use; at the bottom of the stack's own range it would be a page that the
//     check alone touches, faulted in by the first check of every fresh stack. The check's
//     lines are prefetched when the goroutine is switched to (prefetch_canary), so that the
//     check does not wait on a cache and TLB miss (docs/runtime.md has the figures).
// CSP_STACK_GUARD=always forces guarded stacks (and fails when the kernel limit is reached);
// CSP_STACK_GUARD=never uses slabs only. CSP_STACK_SIZE sets the default size
// (default_stack_size()).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace csp::runtime {

// The bytes of canary below each slab stack (see above).
inline constexpr std::size_t slab_canary_bytes = 256;

struct stack {
  std::byte* bottom = nullptr;  // lowest usable address
  std::size_t size = 0;         // usable bytes
  bool guarded = false;
  // Whether the registry has this stack's slot already. The pool keeps the flag with the
  // stack, so only a stack's first goroutine pays for registering it.
  bool registered = false;
  // Whether its top page is resident: a goroutine used it (or prefault() touched it) and no
  // trim() gave its memory back since. go() writes a record there without a page fault.
  bool warm = false;
  std::uint32_t id = 0;  // dense, for the stack's life: its slot in the goroutine registry
  // (24 bytes in all: it sits in the first cache line of the goroutine record.)
  std::byte* top() const noexcept { return bottom + size; }
  // What it was asked for, rounded to pages: the pool's key. A slab stack's range holds the
  // canary of the stack above it besides its usable bytes.
  std::size_t size_class() const noexcept { return guarded ? size : size + slab_canary_bytes; }
};

// The usable size of a goroutine stack when go() asks for none: 256 KiB, or CSP_STACK_SIZE
// (bytes, or KiB and MiB with a K or M suffix; 16 KiB to 1 GiB, rounded up to pages), read
// once, at the first call. A value outside that range, or not a number, is reported on stderr
// and the built-in size is used.
inline constexpr std::size_t builtin_stack_size = 256 * 1024;
std::size_t default_stack_size() noexcept;

// A processor's own few free stacks of the default size, so that spawning and exiting
// goroutines do not meet at the pool's lock (Go's per-P stack cache). Used only by the machine
// that owns the processor.
struct stack_cache {
  static constexpr std::size_t capacity = 32;
  stack entries[capacity];
  std::size_t count = 0;
};

class stack_pool {
 public:
  static stack_pool& instance();

  // Returns a stack of at least `size` usable bytes (0: the default).
  // Throws std::bad_alloc when the address space or the kernel's mapping budget is exhausted.
  // `cache`, if not null, is the calling machine's processor's: tried first, refilled and
  // drained in batches.
  stack allocate(std::size_t size, stack_cache* cache = nullptr);
  // A warm stack of the default size from `cache` (refilled from the pool's warm stacks only),
  // into `out`; false, taking nothing, when the next one is cold or none is warm: then the
  // caller may spawn the goroutine without a stack (record_pool.hpp). Never calls the kernel.
  bool allocate_warm(stack_cache& cache, stack& out);
  void release(stack s, stack_cache* cache = nullptr) noexcept;

  // Whether prefault() has work: go() had to make fresh stacks of the default size, and no
  // goroutine has given a stack back to the pool since (a burst of goroutines that stay alive);
  // fewer warm ones wait than one refill of a processor's cache; and prefault() has made fewer
  // than go() made itself. Cheap; no lock.
  bool prefault_wanted() const noexcept {
    return !returned_since_fresh_.load(std::memory_order_relaxed) &&
           warm_default_.load(std::memory_order_relaxed) < stack_cache::capacity / 2 &&
           prefault_credit_.load(std::memory_order_relaxed) > 0;
  }
  // Faults in the top page of a few fresh default-size stacks and pools them as warm; for an
  // idle machine to call while prefault_wanted(). The first touch of a fresh stack is a page
  // fault (a few microseconds, most of it zeroing the page), and in a burst of new goroutines
  // that stay alive the goroutine that spawns them takes every one in turn, while the other
  // machines spin with nothing to do (parked: 0.75x with it). A burst whose goroutines
  // exit refills the pool with their stacks and needs none: the machine that runs those
  // goroutines spins often and briefly, and faulting pages there delayed them (spawn 1.24x
  // slower, and more memory, when only go()'s count bounded it).
  void prefault() noexcept;

  // Whether trim() has work: more stacks pooled than are kept warm. Cheap; no lock.
  bool trim_pending() const noexcept { return excess_.load(std::memory_order_relaxed) != 0; }
  // Gives the memory of up to a batch of the coldest excess stacks back to the kernel. Returns
  // false, having done nothing, while another machine is trimming: one at a time, because
  // each madvise interrupts the other cores that run the process, and two trimmers kept
  // interrupting each other (docs/runtime.md, "Stacks", has the figures).
  bool trim() noexcept;

  // Whether the canary below `s` is intact (always, for a guarded stack). Checked at every
  // switch out of a goroutine, so the common answer costs no call.
  static bool canary_intact(const stack& s) noexcept { return s.guarded || slab_canary_intact(s); }
  // Starts loading the canary below `s` into the cache, so that the check when its goroutine
  // switches out does not wait for it: that miss (a cold line on a cold page) was the check's
  // whole cost, 14% of skynet's samples. Always inlined: out of line, GCC would judge it pure
  // and delete its calls (scheduler.cpp, prefetch_record()).
  [[gnu::always_inline]] static void prefetch_canary(const stack& s) noexcept {
    if (s.guarded) return;
    for (std::size_t offset = 0; offset < slab_canary_bytes; offset += 64) {
      __builtin_prefetch(s.bottom - slab_canary_bytes + offset);
    }
  }

 private:
  static bool slab_canary_intact(const stack& s) noexcept;
  stack_pool();
  std::size_t take_warm(std::size_t size, stack* out, std::size_t want);
  std::size_t make_fresh(std::size_t size, stack* out, std::size_t want);
  struct state;
  state* state_;
  std::atomic<bool> trimming_{false};   // a machine is in trim()
  std::atomic<std::size_t> excess_{0};  // a copy of state::warm_excess, for trim_pending()
  void publish_counts_locked() noexcept;
  std::atomic<std::size_t> warm_default_{0};  // a copy of state::free's default-size count
  // Fresh default-size stacks allocate() made, less those prefault() made.
  std::atomic<std::ptrdiff_t> prefault_credit_{0};
  // Whether a stack came back to the shared pool since allocate() last made fresh ones.
  std::atomic<bool> returned_since_fresh_{false};
};

}  // namespace csp::runtime
