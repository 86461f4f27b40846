// channel.cpp: the parts of csp/channel.hpp that do not depend on the element type.
#include "csp/channel.hpp"

#include "csp/detail/waiter.hpp"

namespace csp::detail {

void throw_panic(const char* text) { throw panic_error(text); }

void block_on_nil(steady_time deadline) {
  // Nobody can ever claim this waiter: it wakes only by aborting at the deadline.
  waiter self;
  self.wait(deadline);
}

}  // namespace csp::detail
