// pitfall_deadlock: the seed's "forgotten consumer" — a send on an unbuffered channel that no
// one will ever receive.
//
//   func main() {
//       jobs := make(chan int)
//       jobs <- 1        // fatal error: all goroutines are asleep - deadlock!
//   }
//
// Go's runtime notices that nothing can ever run again and stops the program. So does csp
// under csp::run: the same first line, then every goroutine with what it waits on and where it
// was started, and exit status 2.
#include <iostream>

#include "csp/channel.hpp"
#include "csp/go.hpp"

int main() {
  csp::run([] {
    csp::channel<int> jobs;  // unbuffered: a send waits for a receiver
    std::cout << "main sends a job, but nobody was started to receive it" << std::endl;
    jobs.send(1);
    std::cout << "unreachable" << std::endl;
  });
}
