// diagnostics.cpp: csp/diagnostics.hpp over the scheduler's goroutine registry.
#include "csp/diagnostics.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <typeinfo>
#include <utility>

#include "scheduler.hpp"

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

namespace csp {
namespace runtime {

std::string type_name(const std::type_info& type) {
#if defined(__GNUG__)
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type.name();
  std::free(demangled);
  // Spell the standard strings as people write them.
  for (const auto& [long_name, short_name] :
       {std::pair<std::string, std::string>{"std::__cxx11::basic_string<char, "
                                            "std::char_traits<char>, std::allocator<char> >",
                                            "std::string"},
        {"std::basic_string_view<char, std::char_traits<char> >", "std::string_view"}}) {
    for (auto at = name.find(long_name); at != std::string::npos; at = name.find(long_name)) {
      name.replace(at, long_name.size(), short_name);
    }
  }
  return name;
#else
  return type.name();
#endif
}

// What `g` is doing, in the words of Go's goroutine dumps, with more detail where we have it.
std::string describe_state(const goroutine& g) {
  switch (g.status.load(std::memory_order_relaxed)) {
    case goroutine_status::running:
      return "running";
    case goroutine_status::runnable:
      return "runnable";
    case goroutine_status::waiting:
      break;
  }
  using kind = detail::wait_reason::kind;
  const auto channel = [&g](const char* operation) {
    std::ostringstream text;
    text << operation;
    if (const std::type_info* element = g.reason_element.load(std::memory_order_relaxed)) {
      text << " (" << type_name(*element) << ", capacity "
           << g.reason_capacity.load(std::memory_order_relaxed) << ")";
    }
    return text.str();
  };
  switch (g.reason.load(std::memory_order_relaxed)) {
    case kind::chan_send:
      return channel("chan send");
    case kind::chan_receive:
      return channel("chan receive");
    case kind::chan_send_nil:
      return "chan send (nil chan)";
    case kind::chan_receive_nil:
      return "chan receive (nil chan)";
    case kind::select:
      return "select (" + std::to_string(g.reason_cases.load(std::memory_order_relaxed)) +
             " cases)";
    case kind::select_no_cases:
      return "select (no cases)";
    case kind::wait_group:
      return "wait_group";
    case kind::mutex:
      return "mutex";
    case kind::sleep:
      return "sleep";
    case kind::blocking_call:
      return "blocking call";
    case kind::none:
      break;
  }
  return "waiting";
}

void write_goroutine(std::ostream& out, const goroutine& g) {
  out << "goroutine " << g.id;
  if (!g.name.empty()) out << " \"" << g.name << "\"";
  out << " [" << describe_state(g) << "]:\n";
  out << "\tspawned at " << g.site.file << ":" << g.site.line << " in " << g.site.function << "\n";
}

}  // namespace runtime

void dump_goroutines(std::ostream& out) {
  runtime::scheduler::instance().for_each_goroutine([&out](const runtime::goroutine& g) {
    runtime::write_goroutine(out, g);
    out << "\n";
  });
}

std::string goroutine_dump() {
  std::ostringstream out;
  dump_goroutines(out);
  return out.str();
}

std::string scheduler_trace() { return runtime::scheduler::instance().trace(); }

goroutine_leak_check::goroutine_leak_check() {
  runtime::scheduler::instance().for_each_goroutine(
      [this](const runtime::goroutine& g) { before_.push_back(g.id); });
  std::sort(before_.begin(), before_.end());
}

std::string goroutine_leak_check::report(std::chrono::milliseconds grace) const {
  auto& scheduler = runtime::scheduler::instance();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (auto pause = std::chrono::microseconds(10);;
       pause = std::min(pause * 2, decltype(pause)(10'000))) {
    std::ostringstream leaks;
    std::size_t count = 0;
    scheduler.for_each_goroutine([&](const runtime::goroutine& g) {
      if (g.id == 0 || std::binary_search(before_.begin(), before_.end(), g.id)) return;
      ++count;
      runtime::write_goroutine(leaks, g);
    });
    if (count == 0) return "";
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::to_string(count) + " goroutine" + (count == 1 ? "" : "s") +
             " still running after the grace period:\n" + leaks.str();
    }
    // Goroutines that are just finishing need a moment; this polls, it does not synchronise.
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace csp
