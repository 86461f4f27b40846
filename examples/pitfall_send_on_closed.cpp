// pitfall_send_on_closed: "If you try to send on a closed channel, the program panics with
// panic: send on closed channel. The compiler won't catch this; it's a runtime error."
//
// The Go program it follows:
//
//   results := make(chan int, 1)
//   close(results)
//   results <- 1      // panic: send on closed channel
//
// csp throws csp::panic_error with Go's text. Caught, it is Go's recover(): main shows that
// first. Uncaught in a goroutine, it is Go's unrecovered panic: the runtime prints
//
//   panic: csp::panic_error: send on closed channel
//
//   goroutine N [running]
//
// on stderr and ends the process with exit status 2, as Go does. The second half of main does
// exactly that, so this program always "fails": its test expects status 2.
#include <iostream>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/panic_error.hpp"
#include "csp/wait_group.hpp"

int main() {
  csp::channel<int> results(1);
  results.close();
  // The runtime ends the process without flushing stdio, so every line is flushed at once.
  std::cout << "main: results is closed, and one more send is on its way" << std::endl;

  try {
    results.send(1);
  } catch (const csp::panic_error& error) {
    // Go's recover() would hand us the same text.
    std::cout << "main: caught it, Go would print: panic: " << error.what() << std::endl;
  }

  std::cout << "main: now a goroutine makes the same mistake, and nothing catches it" << std::endl;
  csp::wait_group sender;
  sender.go([results] { results.send(2); });
  sender.wait();  // never returns: the panic ends the process first, with exit status 2
  std::cout << "main: unreachable" << std::endl;
}
