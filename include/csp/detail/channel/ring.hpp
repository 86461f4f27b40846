// ring.hpp: the bounded lock-free ring under a buffered channel, with a "slow" switch that
// sends every party to the channel lock while anyone waits.
//
// Algorithm: crossbeam-channel's array flavor (itself Dmitry Vyukov's bounded MPMC queue): a
// slot per position, each with a stamp that says which lap may use it next; head and tail
// are positions (lap | index) advanced by CAS; a value is published by a release store of its
// slot's stamp and consumed after an acquire load of it.
//
// csp adds one bit to head and tail, `slow`, which the channel sets, under its lock, before
// it inspects the ring to decide whether a party must wait, and clears once no party waits.
// A fast operation (push<false> / pop<false>) gives up when it sees the bit, and its CAS fails
// if the bit appeared after it loaded the position, because the bit is part of the compared
// word. So while the bit is set, the ring changes only under the channel lock (the locked
// operations, push<true> / pop<true>), except for fast operations that won their CAS before
// the bit was set and have not yet published their stamp: the locked operations wait for
// those, as crossbeam's do. This is what keeps Go's queueing rules exact on top of a
// lock-free ring: a blocked sender is never overtaken by a newcomer (the newcomer sees `slow`
// and queues behind it), and a receiver never parks while a value sits in the ring.
//
// Memory ordering: a push happens before the pop that takes its value (stamp release/acquire),
// and a pop happens before the push that reuses its slot one lap later — for a channel of
// capacity C, the k-th receive happens before the (k+C)-th send completes (Go's MM-4).
//
// Exceptions: the fast operations are used only for types whose move constructor cannot
// throw. The locked ones move before they publish anything, so a throwing move leaves the
// ring as it was.
#pragma once

#include <sched.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <utility>

namespace csp::detail {

template <class T>
class ring {
 public:
  enum class result { done, full_or_empty, slow };

  // The largest capacity a ring accepts; more is Go's "makechan: size out of range".
  static constexpr std::size_t max_capacity = std::size_t{1} << 40;

  // Reserves `capacity` slots (1 <= capacity <= max_capacity); ok() is false if that memory
  // could not be had.
  explicit ring(std::size_t capacity) : capacity_(capacity) {
    std::size_t lap = 1;
    while (lap <= capacity) lap <<= 1;  // crossbeam's (cap + 1).next_power_of_two()
    one_lap_ = lap * step;
    // A small ring keeps both positions and every slot in one cache line of its allocation, as
    // Go keeps a channel's indices beside its lock: with one or two values in flight the two
    // ends meet on the slots anyway, so a push or pop that moves one line instead of three
    // (head, tail, slot) is what counts, and a select that finds the ring empty reads one line.
    // A larger ring keeps head and tail on lines of their own in this object and its slots in
    // their own allocation, so that a producer and a consumer working at different slots do
    // not disturb each other (crossbeam's layout).
    constexpr std::size_t position_bytes = 2 * sizeof(std::atomic<std::uint64_t>);
    const bool compact =
        alignof(slot) <= position_bytes && capacity <= (cache_line - position_bytes) / sizeof(slot);
    const std::size_t slots_offset = compact ? position_bytes : 0;
    const std::size_t alignment = compact ? cache_line : alignof(slot);
    const std::size_t overhead = slots_offset + alignment - 1;
    if (capacity > (SIZE_MAX - overhead) / sizeof(slot)) return;
    // Zeroed memory is a ring of fresh slots (see slot::stamp), so a large capacity costs
    // address space, not memory, until it is used: calloc takes big blocks straight from mmap.
    block_ = std::calloc(1, overhead + capacity * sizeof(slot));
    if (block_ == nullptr) return;
    auto* base = reinterpret_cast<std::byte*>(
        (reinterpret_cast<std::uintptr_t>(block_) + alignment - 1) & ~(alignment - 1));
    if (compact) {
      head_ = ::new (static_cast<void*>(base)) std::atomic<std::uint64_t>(0);
      tail_ = ::new (static_cast<void*>(base + sizeof(std::atomic<std::uint64_t>)))
          std::atomic<std::uint64_t>(0);
    } else {
      head_ = &spread_head_;
      tail_ = &spread_tail_;
    }
    slots_ = reinterpret_cast<slot*>(base + slots_offset);
    lazy_pages_ = !compact;
  }

  // Destroys the values still in the ring; nobody may use it any more.
  ~ring() {
    if (block_ == nullptr) return;
    // Destroyed in place, not popped: popping moves, and a move (or the copy that stands in
    // for a throwing move) may throw, which a destructor must not.
    const std::uint64_t tail = tail_->load(std::memory_order_relaxed) & ~slow_bit;
    for (std::uint64_t position = head_->load(std::memory_order_relaxed) & ~slow_bit;
         position != tail; position = next(position)) {
      std::launder(reinterpret_cast<T*>(slots_[index(position)].storage))->~T();
    }
    std::free(block_);
  }

  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  bool ok() const noexcept { return block_ != nullptr; }

  // Appends a move of `value` (moved from only on `done`). Fast (Locked = false): gives up
  // with `slow` when the bit is set. Locked: the caller holds the channel lock and has set the
  // bit. full_or_empty: the ring is full.
  template <bool Locked>
  result push(T& value) {
    std::uint64_t tail = tail_->load(std::memory_order_relaxed);
    for (unsigned attempt = 0;; ++attempt) {
      if (!Locked && (tail & slow_bit) != 0) return result::slow;
      const std::uint64_t position = tail & ~slow_bit;
      const std::size_t i = index(position);
      slot& s = slots_[i];
      if (position < one_lap_) write_fault(i);
      const std::uint64_t stamp = load_stamp(i, std::memory_order_acquire);
      if (stamp == position) {
        if constexpr (Locked) {
          // Nobody else can move the tail now (a fast CAS expects the word without the bit),
          // so construct first: a throwing move then leaves everything as it was.
          ::new (static_cast<void*>(s.storage)) T(std::move_if_noexcept(value));
          tail_->store(next(position) | (tail & slow_bit), std::memory_order_relaxed);
          store_stamp(i, position + step);
          return result::done;
        } else {
          if (tail_->compare_exchange_weak(tail, next(position), std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
            ::new (static_cast<void*>(s.storage)) T(std::move(value));
            store_stamp(i, position + step);
            return result::done;
          }
          continue;  // the CAS reloaded tail
        }
      }
      if (stamp + one_lap_ == position + step) {
        // The slot still holds the value of the previous lap: full, unless its receiver has
        // already moved the head and is still taking the value out.
        if constexpr (Locked) full_fence();
        const std::uint64_t head = head_->load(std::memory_order_seq_cst) & ~slow_bit;
        if (head + one_lap_ == position) return result::full_or_empty;
      }
      back_off(attempt);
      tail = tail_->load(std::memory_order_relaxed);
    }
  }

  // Takes the oldest value into `out`. Fast: gives up with `slow` when the bit is set.
  // Locked: as for push. full_or_empty: the ring is empty.
  template <bool Locked>
  result pop(std::optional<T>& out) {
    std::uint64_t head = head_->load(std::memory_order_relaxed);
    for (unsigned attempt = 0;; ++attempt) {
      if (!Locked && (head & slow_bit) != 0) return result::slow;
      const std::uint64_t position = head & ~slow_bit;
      const std::size_t i = index(position);
      slot& s = slots_[i];
      if (position < one_lap_) write_fault(i);
      const std::uint64_t stamp = load_stamp(i, std::memory_order_acquire);
      if (stamp == position + step) {
        T& value = *std::launder(reinterpret_cast<T*>(s.storage));
        if constexpr (Locked) {
          out.emplace(std::move_if_noexcept(value));  // a throw leaves the ring untouched
          value.~T();
          head_->store(next(position) | (head & slow_bit), std::memory_order_relaxed);
          store_stamp(i, position + one_lap_);
          return result::done;
        } else {
          if (head_->compare_exchange_weak(head, next(position), std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
            out.emplace(std::move(value));
            value.~T();
            store_stamp(i, position + one_lap_);
            return result::done;
          }
          continue;
        }
      }
      if (stamp == position) {
        // Not written in this lap: empty, unless a sender has moved the tail and is still
        // putting its value in.
        if constexpr (Locked) full_fence();
        const std::uint64_t tail = tail_->load(std::memory_order_seq_cst) & ~slow_bit;
        if (tail == position) return result::full_or_empty;
      }
      back_off(attempt);
      head = head_->load(std::memory_order_relaxed);
    }
  }

  // The slow switch; both are called with the channel lock held, which makes the caller the
  // only party that changes the bit.
  bool is_slow_locked() const noexcept {
    return (tail_->load(std::memory_order_relaxed) & slow_bit) != 0;
  }
  void set_slow_locked() noexcept {
    tail_->fetch_or(slow_bit, std::memory_order_seq_cst);
    head_->fetch_or(slow_bit, std::memory_order_seq_cst);
  }
  void clear_slow_locked() noexcept {
    head_->fetch_and(~slow_bit, std::memory_order_seq_cst);
    tail_->fetch_and(~slow_bit, std::memory_order_seq_cst);
  }

  // How many values are in the ring (crossbeam's len): exact when nothing moves, and never
  // outside [0, capacity] when things do.
  std::size_t size() const noexcept {
    for (;;) {
      const std::uint64_t tail = tail_->load(std::memory_order_seq_cst) & ~slow_bit;
      const std::uint64_t head = head_->load(std::memory_order_seq_cst) & ~slow_bit;
      if ((tail_->load(std::memory_order_seq_cst) & ~slow_bit) != tail) continue;
      const std::size_t head_index = index(head);
      const std::size_t tail_index = index(tail);
      if (head_index < tail_index) return tail_index - head_index;
      if (head_index > tail_index) return capacity_ - head_index + tail_index;
      return tail == head ? 0 : capacity_;
    }
  }

 private:
  // A position is lap * one_lap_ + index * step; bit 0 of head and tail is the slow bit.
  static constexpr std::uint64_t slow_bit = 1;
  static constexpr std::uint64_t step = 2;

  // A slot's stamp is stored minus the slot's first position (index * step), so that the
  // initial stamps are all zero and the ring starts as zeroed memory. std::atomic<uint64_t> is
  // lock-free and has no state besides its value, so zero bytes are a valid atomic holding 0.
  struct slot {
    std::atomic<std::uint64_t> stored_stamp;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

  // Called on the first lap, before slot i's stamp is read. A large ring's slots come from
  // calloc as untouched pages of a fresh mapping: a first read there maps the kernel's shared
  // zero page, and the first write must then replace it, which flushes that address from the
  // TLB of every core that runs the process (an inter-processor interrupt, a VM exit on a
  // virtual machine: 7% of the samples of the spawn benchmark, whose 100,000-slot ring is
  // used for one lap). So the first access to each page writes: a compare-exchange of a fresh
  // stamp (zero) with zero, which changes nothing and is atomic with any other access. Not a
  // fetch_add(0): clang compiles that to a plain load. A stamp that is no longer zero was
  // written, so its page is writable already.
  void write_fault(std::size_t i) noexcept {
    constexpr std::uintptr_t small_page = 4096;  // a larger page only makes this run more often
    if (lazy_pages_ &&
        (reinterpret_cast<std::uintptr_t>(&slots_[i]) & (small_page - 1)) < sizeof(slot)) {
      std::uint64_t fresh = 0;
      slots_[i].stored_stamp.compare_exchange_strong(fresh, 0, std::memory_order_relaxed);
    }
  }

  std::uint64_t load_stamp(std::size_t i, std::memory_order order) const noexcept {
    return slots_[i].stored_stamp.load(order) + i * step;
  }
  void store_stamp(std::size_t i, std::uint64_t stamp) noexcept {
    slots_[i].stored_stamp.store(stamp - i * step, std::memory_order_release);
  }

  std::size_t index(std::uint64_t position) const noexcept {
    return static_cast<std::size_t>((position & (one_lap_ - 1)) / step);
  }
  std::uint64_t next(std::uint64_t position) const noexcept {
    return index(position) + 1 < capacity_ ? position + step
                                           : (position & ~(one_lap_ - 1)) + one_lap_;
  }

  // Orders the stamp just read before the other end's position read next, as crossbeam does,
  // so that "full" and "empty" are not concluded from a stale position. ThreadSanitizer does
  // not model fences (and g++ rejects them under -fsanitize=thread); there the seq_cst load
  // that follows carries the ordering, which is what x86 gives anyway.
  //
  // Only the locked operations fence. Crossbeam needs the fence on its fast path because its
  // blocked parties register and then re-check the ring (a store, then a load: Dekker). Here
  // a fast operation's "full" or "empty" is either final only for a try (a non-blocking select
  // case), where it needs to be true at one moment, not ordered after earlier stores — and it
  // is: positions only grow, the stamp load is acquire and the position load seq_cst, so "the
  // other end is one lap behind (or level)" read from the position is the state at that load —
  // or it sends a blocking party to the channel lock, whose read-modify-writes re-check under
  // the slow bit. The fence was a third of a non-blocking select on a full or empty channel.
  static void full_fence() noexcept {
#if !defined(__SANITIZE_THREAD__)
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }

  // A partner is between its CAS and its stamp: a few instructions, unless its thread was
  // preempted there, so spin briefly and then give the processor away.
  static void back_off(unsigned attempt) noexcept {
    if (attempt < 16) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      ::sched_yield();
    }
  }

  static constexpr std::size_t cache_line = 64;

  // Written only by the constructor, and on a line of their own: every operation reads them,
  // so they must not share a line with anything the channel writes (its lock, its queues).
  alignas(cache_line) const std::size_t capacity_;
  std::uint64_t one_lap_ = 0;
  void* block_ = nullptr;    // the allocation that holds the slots (and a compact ring's positions)
  bool lazy_pages_ = false;  // whether the slots may lie on pages nobody touched (write_fault)
  std::atomic<std::uint64_t>* head_ = nullptr;
  std::atomic<std::uint64_t>* tail_ = nullptr;
  slot* slots_ = nullptr;
  // A larger ring's positions: consumers and producers touch different lines.
  alignas(cache_line) std::atomic<std::uint64_t> spread_head_{0};
  alignas(cache_line) std::atomic<std::uint64_t> spread_tail_{0};
};

}  // namespace csp::detail
