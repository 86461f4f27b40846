// thread_probe.hpp: knowing from outside that a plain thread is blocked in csp.
//
// The channel API has no "number of blocked parties" accessor, so a test that needs a party to
// be queued before it acts (FIFO of blocked parties, close of a blocked party, rendezvous,
// the interleavings Go's programs rely on) watches the party's thread. On Linux,
// /proc/self/task/<tid>/syscall shows the system call a thread sleeps in and its arguments;
// csp's thread parker sleeps in futex(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) on its waiter
// word with the expected value "phase waiting, sleeping bit set" (waiter.hpp, parker.hpp), and
// it sets that bit only after every operation of the party is linked into its queues. The
// channel lock sleeps with the value 2, glibc and the sanitizers' runtimes with other futex
// operations, so the match is specific. Where /proc cannot be read, or its system call numbers
// are not this program's (under qemu-user they are the host's), parking_observable() is false
// and callers skip or leave the order to chance; they never sleep instead.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "csp/detail/parker.hpp"
#include "csp/detail/waiter.hpp"
#include "support/emulation.hpp"

namespace csp_test {

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether thread `tid` of this process sleeps in csp's thread parker.
inline bool parked_in_csp(pid_t tid) {
  std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  std::string address, op, value;
  if (!(file >> number >> address >> op >> value)) return false;  // "running", or gone
  constexpr unsigned long wait_op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG;
  const unsigned long waiting_and_sleeping =
      static_cast<unsigned long>(csp::detail::waiter::phase::waiting) | csp::detail::sleeping_bit;
  return number == SYS_futex && std::stoul(op, nullptr, 16) == wait_op &&
         std::stoul(value, nullptr, 16) == waiting_and_sleeping;
}

// Whether this process can read its threads' system calls, numbered as it numbers them.
inline bool parking_observable() {
  static const bool observable = syscall_number_seen_in_proc() == SYS_read;
  return observable;
}

}  // namespace csp_test
