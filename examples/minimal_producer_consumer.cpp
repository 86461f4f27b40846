// minimal_producer_consumer: the first program of the Go tutorial csp grew from.
//
//   jobs := make(chan int, 3)
//   go func() {
//       for i := 1; i <= 3; i++ { jobs <- i }
//       close(jobs)
//   }()
//   for j := range jobs { fmt.Println(j) }
//
// Prints 1, 2 and 3, one a line. A std::jthread stands in for the goroutine until csp::go
// arrives.
#include <iostream>
#include <thread>

#include "csp/channel.hpp"

int main() {
  // Buffered to 3, so the producer can send every item before the consumer starts.
  csp::channel<int> jobs(3);

  // The lambda takes the channel by value: a channel is a shared handle, like Go's, so the copy
  // talks to the same channel and keeps it alive for as long as the producer runs.
  std::jthread producer([jobs] {
    for (int i = 1; i <= 3; ++i) jobs.send(i);
    jobs.close();  // no more work is coming: this is what ends the range loop below
  });

  // Ranging over a channel receives until it is closed and drained, like Go's for-range.
  for (int job : jobs) std::cout << job << '\n';
}
