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

// Creates the core for a channel of `capacity`; the caller has validated it.
template <class T>
std::shared_ptr<channel_core<T>> make_channel_core(std::size_t capacity) {
  if (capacity == 0) return std::make_shared<rendezvous_channel<T>>();
  return std::make_shared<buffered_channel<T>>(capacity);
}

}  // namespace csp::detail
