// Must not compile: receiving from a send-only view (Go: x := <-cs, test/chan/perm.go, DIR-1).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::sender<int> s = c;
  s.send(1);
#ifdef CSP_COMPILE_FAIL_CONTROL
  return c.receive().value_or(0) == 1 ? 0 : 1;
#else
  return s.receive().value_or(0) == 1 ? 0 : 1;  // error: a sender has no receive()
#endif
}
