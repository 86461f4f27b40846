// Must not compile: ranging over a send-only view (Go: for range cs, test/chan/perm.go, RNG-2).
#include "csp/channel.hpp"

int main() {
  csp::channel<int> c(1);
  csp::sender<int> s = c;
  s.close();
  int sum = 0;
#ifdef CSP_COMPILE_FAIL_CONTROL
  csp::receiver<int> r = c;
  for (int v : r) sum += v;
#else
  for (int v : s) sum += v;  // error: a sender has no begin()/end()
#endif
  return sum;
}
