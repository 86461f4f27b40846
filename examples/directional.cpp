// directional: send-only and receive-only views of a channel, Go's chan<- T and <-chan T.
//
// A csp::channel<T> converts implicitly to a csp::sender<T> (send and close only) and to a
// csp::receiver<T> (receive and range only). Taking the narrow view in a function's signature
// documents the function's role and lets the compiler enforce it, as in Go:
//
//   func produce(out chan<- int)   ->  void produce(csp::sender<int> out)
//   func sum(in <-chan int) int    ->  int sum(csp::receiver<int> in)
//
// Using the wrong direction is a compile error, not a run-time surprise:
//
//   void produce(csp::sender<int> out) {
//     auto v = out.receive();  // error: no member named 'receive' in 'csp::sender<int>'
//     for (int w : out) {}     // error: invalid range expression of type 'csp::sender<int>'
//   }
//   int sum(csp::receiver<int> in) {
//     in.send(1);              // error: no member named 'send' in 'csp::receiver<int>'
//     in.close();              // error: no member named 'close' in 'csp::receiver<int>'
//   }
//
// (The messages are clang++'s; g++ says the same in its own words.)
//
// The static_asserts below check those claims at every build of this example.
#include <concepts>
#include <iostream>
#include <thread>

#include "csp/channel.hpp"

namespace {

template <class Channel>
concept can_send = requires(const Channel channel, int value) {
  channel.send(value);
};
template <class Channel>
concept can_receive = requires(const Channel channel) {
  channel.receive();
};
template <class Channel>
concept can_close = requires(const Channel channel) {
  channel.close();
};
template <class Channel>
concept can_range = requires(const Channel channel) {
  channel.begin();
};

static_assert(can_send<csp::channel<int>> && can_receive<csp::channel<int>>);
static_assert(can_send<csp::sender<int>> && can_close<csp::sender<int>>);
static_assert(!can_receive<csp::sender<int>> && !can_range<csp::sender<int>>);
static_assert(can_receive<csp::receiver<int>> && can_range<csp::receiver<int>>);
static_assert(!can_send<csp::receiver<int>> && !can_close<csp::receiver<int>>);
// A view never widens back into a channel: direction is only ever given up.
static_assert(std::convertible_to<csp::channel<int>, csp::sender<int>>);
static_assert(!std::convertible_to<csp::sender<int>, csp::channel<int>>);
static_assert(!std::convertible_to<csp::receiver<int>, csp::sender<int>>);

// Only sends, and closes when done: closing belongs to the sending side, as in Go.
void produce(csp::sender<int> out) {
  for (int i = 1; i <= 4; ++i) out.send(i * i);
  out.close();
}

// Only receives.
int sum(csp::receiver<int> in) {
  int total = 0;
  for (int value : in) total += value;
  return total;
}

}  // namespace

int main() {
  csp::channel<int> squares(4);

  // A view is a handle to the same channel, not a copy of its contents; == compares identity.
  const csp::sender<int> out = squares;
  const csp::receiver<int> in = squares;
  std::cout << "sender and receiver views are the same channel: "
            << (out == squares && in == squares ? "yes" : "no") << '\n';

  // Passing the channel where a view is expected narrows it at the call: the producer can no
  // longer receive, the consumer can no longer send or close.
  std::jthread producer(produce, squares);
  std::cout << "sum of the squares 1..4 received through the receiver view: " << sum(squares)
            << '\n';

  // A default-constructed view is nil, like a nil chan<- int: it refers to no channel.
  const csp::sender<int> nowhere;
  std::cout << "default sender is nil: " << (nowhere == nullptr ? "yes" : "no") << '\n';
}
