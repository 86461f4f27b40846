// context_worker: "Context is plumbing" — workers take a context first and stop when it ends.
//
// The Go program it follows:
//
//   func worker(ctx context.Context, id int, jobs <-chan int, results chan<- int) {
//       for {
//           select {
//           case <-ctx.Done():
//               fmt.Printf("worker %d stops: %v\n", id, ctx.Err())
//               return
//           case j := <-jobs:
//               select {
//               case results <- j * 2:
//               case <-ctx.Done():
//                   fmt.Printf("worker %d stops: %v\n", id, ctx.Err())
//                   return
//               }
//           }
//       }
//   }
//
//   func main() {
//       ctx, cancel := context.WithCancel(context.Background())
//       defer cancel()
//       ...start 3 workers and a producer that never runs dry (a server's requests)...
//       for i := 0; i < 5; i++ { fmt.Println("main received", <-results) }
//       cancel()            // shutting down: every goroutine sees ctx.Done() and returns
//       wg.Wait()
//
//       ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
//       defer cancel()
//       select {            // a slow call that the deadline cuts short
//       case <-time.After(time.Hour):
//       case <-ctx.Done(): fmt.Println("slow request gave up:", ctx.Err())
//       }
//   }
//
// In csp the two selects are the context-bound operations themselves: jobs.receive(ctx) and
// results.send(v, ctx) stop when ctx ends and say so, and csp::sleep_for(d, ctx) is the
// cancellable wait. Nobody closes jobs: the context alone stops everyone, and no goroutine
// leaks.
#include <chrono>
#include <iostream>
#include <syncstream>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"

using namespace std::chrono_literals;

namespace {

// One line of output, handed to std::cout whole (see worker_pool.cpp).
std::osyncstream say() { return std::osyncstream(std::cout); }

// The context comes first, as Go's convention has it.
void worker(csp::context ctx, int id, csp::receiver<int> jobs, csp::sender<int> results) {
  for (;;) {
    const auto job = jobs.receive(ctx);
    if (!job) {
      // canceled (nobody closes jobs here): ctx.err() says why.
      say() << "worker " << id << " stops: " << ctx.err().message() << '\n';
      return;
    }
    if (!results.send(*job * 2, ctx)) {
      say() << "worker " << id << " stops: " << ctx.err().message() << '\n';
      return;
    }
  }
}

// Feeds jobs for as long as anyone wants them, like requests arriving at a server.
void producer(csp::context ctx, csp::sender<int> jobs) {
  for (int job = 1;; ++job) {
    if (!jobs.send(job, ctx)) {
      say() << "producer stops: " << ctx.err().message() << '\n';
      return;
    }
  }
}

}  // namespace

int main() {
  constexpr int worker_count = 3;
  constexpr int wanted = 5;
  say() << "main: " << worker_count << " workers, and a producer that never runs dry\n";

  auto [ctx, cancel] = csp::with_cancel(csp::background());
  csp::channel<int> jobs;
  csp::channel<int> results;

  csp::wait_group running;
  for (int id = 1; id <= worker_count; ++id) {
    running.go([ctx = ctx, id, jobs, results] { worker(ctx, id, jobs, results); });
  }
  running.go([ctx = ctx, jobs] { producer(ctx, jobs); });

  for (int i = 0; i < wanted; ++i) say() << "main received " << *results.receive() << '\n';

  // Said before cancel(), so that no goroutine can report stopping before it is announced.
  say() << "main: got " << wanted << " results, cancels the context\n";
  cancel();
  running.wait();
  say() << "main: all " << worker_count << " workers and the producer returned\n";

  // A deadline is a cancel that fires by itself. The slow call is a sleep of an hour that
  // stops when the context ends.
  auto [request, cancel_request] = csp::with_timeout(csp::background(), 20ms);
  if (!csp::sleep_for(1h, request)) {
    say() << "slow request gave up: " << request.err().message() << '\n';
  }
  cancel_request();  // Go's defer cancel(): releases the timer even when the deadline fired
}
