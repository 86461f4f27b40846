// timer_service.cpp: csp/detail/timer_service.hpp — a binary min-heap and one thread.
#include "csp/detail/timer_service.hpp"

#include <pthread.h>

#include <condition_variable>
#include <thread>
#include <vector>

#include "csp/detail/waiter.hpp"
#include "csp/time.hpp"

namespace csp::detail {

struct timer_service::state {
  std::vector<timer_node*> heap;
  std::condition_variable changed;
  steady_time sleeping_until = no_deadline;  // what the thread waits for; guarded by mutex_
};

timer_service& timer_service::instance() {
  // Never destroyed: the thread may still be asleep in it while the process exits.
  static timer_service* const service = new timer_service();
  return *service;
}

timer_service::timer_service() : state_(new state) {
  std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "csp-timer");
    run();
  }).detach();
}

std::size_t timer_service::pending_count() {
  std::lock_guard guard(mutex_);
  return state_->heap.size();
}

// Moves the node at `index` towards the root while it is due earlier than its parent.
void timer_service::sift_up(std::size_t index) {
  auto& heap = state_->heap;
  while (index > 0) {
    const std::size_t parent = (index - 1) / 2;
    if (!(heap[index]->when_ < heap[parent]->when_)) break;
    swap_nodes(index, parent);
    index = parent;
  }
}

// Moves the node at `index` towards the leaves while a child is due earlier.
void timer_service::sift_down(std::size_t index) {
  auto& heap = state_->heap;
  for (;;) {
    const std::size_t left = 2 * index + 1;
    if (left >= heap.size()) break;
    std::size_t child = left;
    if (left + 1 < heap.size() && heap[left + 1]->when_ < heap[left]->when_) child = left + 1;
    if (!(heap[child]->when_ < heap[index]->when_)) break;
    swap_nodes(index, child);
    index = child;
  }
}

void timer_service::swap_nodes(std::size_t a, std::size_t b) {
  auto& heap = state_->heap;
  std::swap(heap[a], heap[b]);
  heap[a]->heap_index_ = a;
  heap[b]->heap_index_ = b;
}

void timer_service::schedule_locked(timer_node& node, steady_time when) {
  cancel_locked(node);
  auto& heap = state_->heap;
  node.when_ = when;
  node.heap_index_ = heap.size();
  heap.push_back(&node);
  sift_up(node.heap_index_);
  // Wake the thread only if it sleeps past the new deadline.
  if (when < state_->sleeping_until) state_->changed.notify_one();
}

bool timer_service::cancel_locked(timer_node& node) {
  if (node.heap_index_ == timer_node::not_queued) return false;
  auto& heap = state_->heap;
  const std::size_t index = node.heap_index_;
  node.heap_index_ = timer_node::not_queued;
  timer_node* const last = heap.back();
  heap.pop_back();
  if (last != &node) {
    heap[index] = last;
    last->heap_index_ = index;
    sift_up(index);
    sift_down(last->heap_index_);
  }
  return true;
}

void timer_service::run() {
  std::unique_lock lock(mutex_);
  auto& heap = state_->heap;
  for (;;) {
    if (heap.empty()) {
      state_->sleeping_until = no_deadline;
      state_->changed.wait(lock);
      continue;
    }
    const steady_time now = std::chrono::steady_clock::now();
    timer_node* const first = heap.front();
    if (first->when_ > now) {
      // A copy: the node may be cancelled and destroyed while we sleep.
      const steady_time until = first->when_;
      state_->sleeping_until = until;
      state_->changed.wait_until(lock, until);
      continue;
    }
    cancel_locked(*first);
    const steady_time next = first->fire(now);
    if (next != no_deadline) schedule_locked(*first, next);
  }
}

void sleep_until_steady(steady_time deadline) {
  // Nobody ever claims this waiter: it returns by aborting at the deadline, through whatever
  // parker the caller has, so a goroutine sleeps without holding its thread.
  waiter self;
  note_wait({wait_reason::kind::sleep});
  self.wait(deadline);
}

}  // namespace csp::detail
