// Must not compile: closing a receive-only view (Go: close(cr), test/chan/perm.go, CL-4).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::receiver<int> r = c;
#ifdef CSP_COMPILE_FAIL_CONTROL
  c.close();
#else
  r.close();  // error: a receiver has no close()
#endif
  return r.receive().has_value() ? 1 : 0;
}
