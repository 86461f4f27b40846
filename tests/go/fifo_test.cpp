// Port of golang/go:test/chan/fifo.go ("Verify that unbuffered channels act as pure fifos"):
// AsynchFifo through a buffered channel, SynchFifo through a daisy chain of parties that read an
// unbuffered channel in turn. Goroutines become std::threads.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "csp/channel.hpp"

namespace {

constexpr int N = 10;

TEST(GoFifo, AsynchFifo) {
  csp::channel<int> ch(N);
  for (int i = 0; i < N; ++i) ch.send(i);
  for (int i = 0; i < N; ++i) EXPECT_EQ(ch.receive(), i) << "bad receive";
}

// func Chain(ch <-chan int, val int, in <-chan int, out chan<- int)
void chain(csp::receiver<int> ch, int val, csp::receiver<int> in, csp::sender<int> out,
           std::atomic<int>& failures) {
  (void)in.receive();
  if (ch.receive() != val) failures.fetch_add(1);  // Go: panic(val)
  out.send(1);
}

// Thread together a daisy chain to read the elements in sequence.
TEST(GoFifo, SynchFifo) {
  std::atomic<int> failures{0};
  csp::channel<int> ch;
  csp::channel<int> in;
  csp::channel<int> start = in;
  std::vector<std::thread> chain_links;
  for (int i = 0; i < N; ++i) {
    csp::channel<int> out;
    chain_links.emplace_back(chain, ch, i, in, out, std::ref(failures));
    in = out;
  }
  start.send(0);
  for (int i = 0; i < N; ++i) ch.send(i);
  (void)in.receive();
  for (auto& t : chain_links) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
