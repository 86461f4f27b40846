// panic_error.hpp: the exception csp throws where Go panics on misuse.
//
// Go reports misuse of its concurrency primitives with a run-time panic whose text is fixed
// ("send on closed channel", "close of closed channel", "close of nil channel",
// "makechan: size out of range", "sync: negative WaitGroup counter"). csp throws
// `csp::panic_error` with exactly that text as `what()`, so logs and tests read the same in
// both languages. It derives from `std::logic_error` because every one of them is a bug in the
// calling program, never a condition to retry.
#pragma once

#include <stdexcept>

namespace csp {

class panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace csp
