// worker_pool: the Go tutorial's worker pool, narrated. The main demo of csp.
//
// The Go program it follows, step by step:
//
//   func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) {
//       defer wg.Done()
//       for j := range jobs {
//           // simulate heavy computation
//           results <- j * 2
//       }
//   }
//
//   func main() {
//       jobs := make(chan int, 100)
//       results := make(chan int, 100)
//       var wg sync.WaitGroup
//       for w := 1; w <= 3; w++ { wg.Add(1); go worker(w, jobs, results, &wg) }
//       go func() { for j := 1; j <= 5; j++ { jobs <- j }; close(jobs) }()
//       go func() { wg.Wait(); close(results) }()
//       for r := range results { fmt.Println(r) }
//   }
//
// Every party says what it does, so the output shows the pipeline at work: the producer queues
// jobs, the workers take them in parallel, the closer closes results once the last worker is
// done, and main drains the results and checks them.
//
// Usage: worker_pool [jobs] [workers]      (defaults: 5 jobs and 3 workers, as in Go)
//
// The workers, the producer and the closer are goroutines; main itself is a plain thread that
// drains the results, as main does in Go.
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <syncstream>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/wait_group.hpp"

namespace {

// Starts one line of output. The osyncstream hands the finished line to std::cout in one piece
// when it goes out of scope, so lines printed at the same time by the workers, the producer,
// the closer and main never cut into each other.
std::osyncstream say() { return std::osyncstream(std::cout); }

// The tutorial's "simulate heavy computation": a few milliseconds of real CPU work rather than a
// sleep, so that the workers truly run side by side. It counts the primes below 100,000 by trial
// division, then gives the tutorial's answer, job * 2. Checking the count keeps the optimizer
// from throwing the work away.
int heavy_computation(int job) {
  int primes = 0;
  for (int n = 2; n < 100'000; ++n) {
    bool prime = true;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    primes += prime ? 1 : 0;
  }
  if (primes != 9'592) std::abort();  // there are 9,592 primes below 100,000
  return job * 2;
}

// The directional views make the compiler hold a worker to its role, as jobs <-chan int and
// results chan<- int do in Go: it can only take jobs and only hand back results.
void worker(int id, csp::receiver<int> jobs, csp::sender<int> results) {
  for (int job : jobs) {
    say() << "worker " << id << " started job " << job << '\n';
    const int result = heavy_computation(job);
    say() << "worker " << id << " finished job " << job << " -> " << result << '\n';
    results.send(result);
  }
  say() << "worker " << id << " exits: jobs is closed and empty\n";
}

// Reads a count from the command line; false unless it is a whole number in [1, max].
bool parse_count(std::string_view text, int max, int& count) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return false;
  }
  count = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int job_count = 5;
  int worker_count = 3;
  if (argc > 3 || (argc > 1 && !parse_count(argv[1], 1'000'000, job_count)) ||
      (argc > 2 && !parse_count(argv[2], 1'000, worker_count))) {
    std::cerr << "usage: worker_pool [jobs (1..1000000, default 5)] [workers (1..1000, "
                 "default 3)]\n";
    return 2;
  }
  say() << "main: " << job_count << " jobs for " << worker_count << " workers\n";

  // The buffers absorb bursts: the producer can queue 100 jobs, and the workers can hand back
  // 100 results, before anyone has to wait for the other side.
  csp::channel<int> jobs(100);
  csp::channel<int> results(100);

  // wait_group::go is Go 1.25's WaitGroup.Go: Add(1), go f(), and Done() when f returns, so no
  // worker can forget its Done.
  csp::wait_group workers;
  for (int id = 1; id <= worker_count; ++id) {
    // Each worker gets its own handles to the same two channels, narrowed to one direction.
    workers.go([=] { worker(id, jobs, results); });
  }

  // The producer runs in the background so that main is free to drain results meanwhile.
  csp::go([jobs, job_count] {
    for (int job = 1; job <= job_count; ++job) {
      // Said before the send, so that no worker can report a job before it is announced.
      say() << "producer queues job " << job << '\n';
      jobs.send(job);
    }
    say() << "producer closes jobs: no more work is coming\n";
    jobs.close();  // ends the workers' loops once they have taken every queued job
  });

  // Only a third party can close results: main is busy draining it, and no worker knows whether
  // it is the last one still sending.
  csp::go([&workers, results, worker_count] {
    workers.wait();
    say() << "closer: all " << worker_count << " workers are done, closes results\n";
    results.close();  // ends main's loop once it has taken every result
  });

  int received = 0;
  long long sum = 0;
  for (int result : results) {
    ++received;
    sum += result;
    say() << "main received " << result << '\n';
  }

  // Every job doubled: 2 + 4 + ... + 2n = n(n+1). The program checks its own answer so that a
  // lost or duplicated value cannot go unnoticed.
  const long long expected_sum = static_cast<long long>(job_count) * (job_count + 1);
  say() << "summary: " << job_count << " jobs, " << received << " results, sum " << sum << '\n';
  if (received != job_count || sum != expected_sum) {
    std::cerr << "worker_pool: expected " << job_count << " results summing to " << expected_sum
              << '\n';
    return 1;
  }
}
