// emulation.hpp: whether the tests run under qemu-user (the aarch64 preset,
// `scripts/test.sh aarch64`), for the few tests that cannot run there.
//
// Death tests cannot. GoogleTest's "threadsafe" style re-executes the test binary, and qemu
// does not intercept execve: without binfmt_misc the kernel cannot run an aarch64 program.
// The "fast" style forks, and qemu 7.2 aborts in a forked child of a threaded program when the
// child starts threads of its own (qemu_plugin_vcpu_init_hook: assertion failed), which is what
// every child that starts csp's runtime does.
//
// Detection: a thread reading its own /proc/self/task/<tid>/syscall is inside read(); under
// qemu-user the kernel reports the host's number for that call, not this program's SYS_read.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace csp_test {

// The system call number /proc shows for this thread while it reads that very file: this
// program's SYS_read natively, the host's number for read under qemu-user; -1 where /proc
// cannot be read.
inline long syscall_number_seen_in_proc() {
  std::ifstream file("/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/syscall");
  long number = -1;
  return (file >> number) ? number : -1;
}

inline bool runs_under_user_mode_emulation() {
  static const bool emulated = [] {
    const long number = syscall_number_seen_in_proc();
    return number != -1 && number != SYS_read;
  }();
  return emulated;
}

}  // namespace csp_test
