// Must not compile: sending on a receive-only view (Go: cr <- 0, test/chan/perm.go, DIR-1).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::receiver<int> r = c;
#ifdef CSP_COMPILE_FAIL_CONTROL
  c.send(1);
#else
  r.send(1);  // error: a receiver has no send()
#endif
  return r.receive().value_or(0) == 1 ? 0 : 1;
}
