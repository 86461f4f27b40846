// go.cpp: csp/go.hpp on top of the scheduler, and the blocking pool.
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "csp/go.hpp"
#include "scheduler.hpp"

namespace csp {
namespace detail {

void spawn(go_options&& options, goroutine_task* (*place)(void* where, void* closure),
           std::size_t size, void* closure) {
  runtime::scheduler::instance().spawn(std::move(options), place, size, closure);
}

namespace {

// Threads for calls that block their thread. Elastic: a job that finds no idle thread gets a
// new one; a thread idle for 10 s leaves. Goroutines never run here.
class blocking_pool {
 public:
  static blocking_pool& instance() {
    static blocking_pool* const pool = new blocking_pool();  // threads may outlive main
    return *pool;
  }

  void run(void (*job)(void*), void* argument) {
    completion done;
    {
      std::lock_guard guard(mutex_);
      jobs_.push_back({job, argument, &done});
      // Each waiting thread takes one job when it wakes: enough of them, or one more thread.
      if (available_ >= jobs_.size()) {
        wake_.notify_one();
      } else {
        std::thread([this] { serve(); }).detach();
      }
    }
    done.wait();
  }

 private:
  struct entry {
    void (*job)(void*);
    void* argument;
    completion* done;
  };

  void serve() {
    ::pthread_setname_np(::pthread_self(), "csp-blocking");
    std::unique_lock lock(mutex_);
    for (;;) {
      ++available_;
      const bool got_job =
          wake_.wait_for(lock, std::chrono::seconds(10), [this] { return !jobs_.empty(); });
      --available_;
      if (!got_job) return;
      const entry e = jobs_.front();
      jobs_.pop_front();
      lock.unlock();
      e.job(e.argument);
      e.done->signal();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<entry> jobs_;
  std::size_t available_ = 0;  // threads inside serve()'s wait
};

}  // namespace

void run_on_blocking_pool(void (*job)(void*), void* argument) {
  note_wait({wait_reason::kind::blocking_call});
  auto& scheduler = runtime::scheduler::instance();
  scheduler.blocking_calls.fetch_add(1, std::memory_order_seq_cst);
  struct in_flight {
    runtime::scheduler& s;
    ~in_flight() { s.blocking_calls.fetch_sub(1, std::memory_order_seq_cst); }
  } counted{scheduler};
  blocking_pool::instance().run(job, argument);
}

void enter_run() noexcept { runtime::scheduler::instance().enter_run(); }
void leave_run() noexcept { runtime::scheduler::instance().leave_run(); }

}  // namespace detail

bool in_goroutine() noexcept { return runtime::scheduler::current_goroutine() != nullptr; }

void yield() { runtime::scheduler::instance().yield_current(); }

int set_max_procs(int n) { return runtime::scheduler::instance().set_max_procs(n); }

int max_procs() { return runtime::scheduler::instance().max_procs(); }

std::int64_t goroutine_count() { return runtime::scheduler::instance().live_goroutines(); }

void lock_os_thread() { runtime::scheduler::instance().lock_current_thread(); }

void unlock_os_thread() { runtime::scheduler::instance().unlock_current_thread(); }

}  // namespace csp
