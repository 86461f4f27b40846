// flavors.hpp: the index of channel implementations.
//
// A channel handle (csp/channel.hpp) points at one `channel_core<T>` (core.hpp), which owns
// what every channel has: the lock, the closed flag, the FIFO queues of blocked senders and
// receivers, the blocking/timeout logic, close(), and the hooks select uses. Where the value
// lives while it is in flight is the flavor's business, behind two virtual calls made with the
// lock held:
//
//   rendezvous.hpp  capacity 0. No storage: a send completes only by moving the value straight
//                   into a blocked receiver's slot, or a receive by moving it out of a blocked
//                   sender's. Invariant: at most one of the two queues holds waiting operations.
//   buffered.hpp    capacity n > 0. A ring of n slots. Invariants: receivers wait only while
//                   the ring is empty, senders only while it is full; a receive that frees a
//                   slot refills it from the longest-waiting sender, so blocked senders are
//                   served in arrival order and nobody barges past them.
//
// A nil channel has no core at all: the handle's pointer is null, and the handle blocks forever
// (or until a deadline) without touching any shared state.
//
// Adding a flavor (an unbounded list, say) means one new file implementing send_locked and
// receive_locked; neither select nor the handles change.
#pragma once

#include "csp/detail/channel/buffered.hpp"
#include "csp/detail/channel/core.hpp"
#include "csp/detail/channel/rendezvous.hpp"

namespace csp::detail {

// The non-blocking operations of the handles (try_send, try_receive) and of a select of one
// case and a default, with the lock-free answer of the two common flavors inlined into the
// caller: on a channel that is not ready that is a few loads and no call, and an operation that
// must lock calls the flavor's locked half directly. Through the vtable, those calls were half
// of such a select (SelectNonblock: 10.4 ns per four selects against Go's 6.7). Other flavors
// (timer channels) take the virtual call. The ring's push and pop stay out of line: forced
// inline, they took SelectNonblock to 0.3-0.5x but cost SelectAsyncContended 4-6%.
template <class T>
[[gnu::always_inline]] inline bool try_send_now(channel_core<T>& core, T& value) {
  switch (core.flavor()) {
    case channel_flavor::rendezvous:
      return core.template try_send_as<rendezvous_channel<T>>(value);
    case channel_flavor::buffered:
      return static_cast<buffered_channel<T>&>(core).try_send_inline(value);
    case channel_flavor::other:
      break;
  }
  return core.try_send(value);
}

template <class T>
[[gnu::always_inline]] inline channel_status try_receive_now(channel_core<T>& core,
                                                             std::optional<T>& out) {
  switch (core.flavor()) {
    case channel_flavor::rendezvous:
      return core.template try_receive_as<rendezvous_channel<T>>(out);
    case channel_flavor::buffered:
      return static_cast<buffered_channel<T>&>(core).try_receive_inline(out);
    case channel_flavor::other:
      break;
  }
  return core.try_receive(out);
}

// Creates the core for a channel of `capacity`; the caller has validated it.
template <class T>
std::shared_ptr<channel_core<T>> make_channel_core(std::size_t capacity) {
  if (capacity == 0) return std::make_shared<rendezvous_channel<T>>();
  return std::make_shared<buffered_channel<T>>(capacity);
}

}  // namespace csp::detail
