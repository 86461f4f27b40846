// Must not compile: converting a receive-only view to a send-only one (Go: cs = cr,
// test/chan/perm.go, DIR-2).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::receiver<int> r = c;
  csp::sender<int> s;
#ifdef CSP_COMPILE_FAIL_CONTROL
  s = c;
#else
  s = r;  // error: no conversion from receiver<int> to sender<int>
#endif
  s.send(1);
  return r.receive().value_or(0) == 1 ? 0 : 1;
}
