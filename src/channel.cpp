// channel.cpp: the parts of csp/channel.hpp that do not depend on the element type.
#include "csp/channel.hpp"

#include "csp/detail/waiter.hpp"

namespace csp::detail {

void throw_panic(const char* text) { throw panic_error(text); }

void block_on_nil(steady_time deadline, bool sending) {
  // Nobody can ever claim this waiter: it wakes only by aborting at the deadline.
  waiter self;
  note_wait({sending ? wait_reason::kind::chan_send_nil : wait_reason::kind::chan_receive_nil});
  self.wait(deadline);
}

}  // namespace csp::detail
