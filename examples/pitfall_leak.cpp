// pitfall_leak: the seed's worst bug, "the one that never logs" — a goroutine left waiting
// forever on a channel nobody will use again.
//
//   func search(query string) string {
//       results := make(chan string)          // unbuffered
//       go func() { results <- slowLookup(query) }()
//       select {
//       case r := <-results: return r
//       case <-time.After(10 * time.Millisecond): return "timeout"   // the sender leaks
//       }
//   }
//
// The program runs normally; nothing crashes. csp::goroutine_leak_check, the kind of check a
// test ends with, names the goroutine that was left behind, what it waits on, and the line that
// started it. The fix is a buffer of one, so the late sender never waits.
#include <chrono>
#include <iostream>
#include <string>

#include "csp/csp.hpp"

using namespace std::chrono_literals;

std::string search(const std::string& query, std::size_t buffer) {
  csp::channel<std::string> results(buffer);
  csp::go({.name = "lookup " + query}, [=] {
    csp::sleep_for(50ms);  // a lookup slower than the caller's patience
    results.send("result for " + query);
  });
  std::optional<std::string> result;
  switch (csp::select(csp::on_receive(results, result), csp::on_receive(csp::after(10ms)))) {
    case 0:
      return *result;
    default:
      return "timeout";
  }
}

int main() {
  {
    csp::goroutine_leak_check leaks;
    std::cout << "unbuffered: " << search("gophers", 0) << '\n';
    std::cout << leaks.report(200ms);
  }
  {
    csp::goroutine_leak_check leaks;
    std::cout << "buffered(1): " << search("gophers", 1) << '\n';
    const std::string report = leaks.report(200ms);
    std::cout << (report.empty() ? "no goroutine leaked\n" : report);
  }
}
