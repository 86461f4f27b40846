// Must not compile: comparing a send-only view with a receive-only one (Go: cs == cr is a
// mismatched-types error, since neither direction is assignable to the other).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::sender<int> s = c;
  csp::receiver<int> r = c;
#ifdef CSP_COMPILE_FAIL_CONTROL
  const bool same = s == c && r == c && c == s && c == r;
#else
  const bool same = s == r;  // error: operator== is deleted for sender and receiver
#endif
  return same ? 0 : 1;
}
