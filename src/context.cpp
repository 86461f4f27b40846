// context.cpp: csp/context.hpp — the context tree and its cancellation.
//
// The algorithm and the lock order are described at the top of csp/detail/context_node.hpp.
// In short: a node ends under its own lock (error word, cause, done channel closed, waiting
// receivers claimed); a subtree ends depth first with each child's lock taken under its
// parent's, and under the timer service's lock S so that the timers of the deadline nodes stop
// as they end; wake-ups, after_func starts and the unlinking from the parent follow once every
// lock is released.
//
// Invariants:
//   - a cancel node is in its owner's list (linked) only while it is live, or ending and not yet
//     unlinked by its canceller; once it has ended, nothing is ever added to its own list;
//   - a deadline node's timer is pending only while the node is live; its destructor cancels it
//     under S before the node goes, so a firing timer always meets an intact node;
//   - nothing releases a reference to a context node while holding S or any N: a node's
//     destructor takes S and N(parent) itself.
#include "csp/context.hpp"

#include <string>
#include <system_error>

#include "csp/detail/timer_service.hpp"
#include "csp/detail/wake_batch.hpp"

namespace csp {
namespace {

class context_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "context"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "unknown context error";
  }
  std::error_condition default_error_condition(int code) const noexcept override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        return std::errc::operation_canceled;
      case errc::deadline_exceeded:
        return std::errc::timed_out;
    }
    return {code, *this};
  }
};

}  // namespace

const std::error_category& context_category() noexcept {
  // Never destroyed: threads may still compare errors while the process exits.
  static const context_error_category* const category = new context_error_category;
  return *category;
}

namespace detail {

const std::exception_ptr& default_cause(context_end how) noexcept {
  static const std::exception_ptr* const canceled =
      new std::exception_ptr(std::make_exception_ptr(std::system_error(errc::canceled)));
  static const std::exception_ptr* const deadline_exceeded =
      new std::exception_ptr(std::make_exception_ptr(std::system_error(errc::deadline_exceeded)));
  return how == context_end::deadline_exceeded ? *deadline_exceeded : *canceled;
}

// ---------------------------------------------------------------------------------------------
// cancel_node

cancel_node::cancel_node(std::shared_ptr<context_node> parent, steady_time deadline,
                         kind what) noexcept
    : context_node(what, std::move(parent), this),
      cancel_link(true),
      channel_core<std::monostate>(0),
      owner_(context_node::parent ? context_node::parent->canceler : nullptr),
      deadline_(deadline) {}

cancel_node::~cancel_node() {
  if (!unlinked_for_good_) unlink_from_parent();
}

void cancel_node::attach() {
  if (owner_ == nullptr) return;
  context_end how;
  std::exception_ptr cause;
  {
    lock_guard guard(owner_->lock_);
    how = static_cast<context_end>(owner_->end_.load(std::memory_order_relaxed));
    if (how == context_end::live) {
      owner_->links_.push_back(*this);
      return;
    }
    cause = owner_->cause_;
  }
  // Born under an ended parent: ends now, with the parent's error and cause.
  cancel(how, std::move(cause), false);
}

bool cancel_node::end_locked(cancellation& work) {
  if (end_.load(std::memory_order_relaxed) != static_cast<std::uint8_t>(context_end::live)) {
    return false;
  }
  cause_ = work.cause;
  // The cause first, then the error word and the closed flag, both release: whoever sees
  // either also sees the cause.
  end_.store(static_cast<std::uint8_t>(work.how), std::memory_order_release);
  closed_.store(true, std::memory_order_release);
  while (operation* op = receivers_.claim_first(nullptr)) work.woken.push_back(*op);
  return true;
}

void cancel_node::end_subtree_locked(cancellation& work) CSP_NO_THREAD_SAFETY_ANALYSIS {
  end_locked(work);
  // Depth first, holding the lock of every node on the path from here down: a child whose
  // last handle goes meanwhile waits for its parent's lock in its destructor, so it stays
  // intact while we end it. The way back up is each node's owner_, the node above it.
  cancel_node* current = this;
  for (;;) {
    cancel_link* const link = current->links_.pop_front();
    if (link == nullptr) {
      if (current == this) return;
      cancel_node* const up = current->owner_;
      current->lock_.unlock();
      current = up;
      continue;
    }
    if (!link->is_context) {
      auto& entry = static_cast<after_func_entry&>(*link);
      // Whoever claims first decides; a stop() that claimed first takes `self` itself.
      if (!entry.claimed.exchange(true, std::memory_order_acq_rel)) {
        entry.next = work.callbacks;
        work.callbacks = &entry;
      }
      continue;
    }
    auto& child = static_cast<cancel_node&>(*link);
    child.lock_.lock();
    if (child.end_.load(std::memory_order_relaxed) !=
        static_cast<std::uint8_t>(context_end::live)) {
      // Its own cancel function got there first; that call ends its subtree.
      child.lock_.unlock();
      continue;
    }
    if (work.stop_timers) child.stop_timer_locked();
    child.end_locked(work);
    current = &child;
  }
}

void cancel_node::finish(cancellation& work) {
  // Unlink each operation before finishing it: its owner may return, and free it, at once.
  {
    wake_batch batch;
    while (operation* op = work.woken.front()) {
      work.woken.remove(*op);
      op->owner->finish(waiter::outcome::closed);
    }
  }
  while (after_func_entry* entry = work.callbacks) {
    work.callbacks = static_cast<after_func_entry*>(entry->next);
    entry->next = nullptr;
    std::shared_ptr<after_func_entry> self = std::move(entry->self);
    entry->start(std::move(self));
  }
}

void cancel_node::cancel(context_end how, std::exception_ptr cause, bool remove_from_parent) {
  cancellation work;
  work.how = how;
  work.cause = cause != nullptr ? std::move(cause) : default_cause(how);
  bool ended = false;
  bool need_service = what == kind::deadline;
  if (!need_service) {
    // The common case, a node with nothing linked below it: no timer can be involved.
    lock_guard guard(lock_);
    if (end_.load(std::memory_order_relaxed) != static_cast<std::uint8_t>(context_end::live)) {
      return;
    }
    if (links_.empty()) {
      ended = end_locked(work);
    } else {
      need_service = true;
    }
  }
  if (need_service) {
    auto& service = timer_service::instance();
    service.locked([&] {
      lock_guard guard(lock_);
      if (end_.load(std::memory_order_relaxed) != static_cast<std::uint8_t>(context_end::live)) {
        return;
      }
      work.stop_timers = true;
      stop_timer_locked();
      end_subtree_locked(work);
      ended = true;
    });
  }
  if (!ended) return;
  finish(work);
  if (remove_from_parent) unlink_from_parent();
}

void cancel_node::unlink_from_parent() {
  if (owner_ == nullptr) return;
  lock_guard guard(owner_->lock_);
  if (linked) owner_->links_.remove(*this);
}

void cancel_node::add_after_func(std::shared_ptr<after_func_entry> entry) {
  {
    lock_guard guard(lock_);
    if (end_.load(std::memory_order_relaxed) == static_cast<std::uint8_t>(context_end::live)) {
      entry->self = entry;
      links_.push_back(*entry);
      return;
    }
  }
  // Already ended: run f now (Go: "or immediately if ctx is already done").
  if (!entry->claimed.exchange(true, std::memory_order_acq_rel)) {
    after_func_entry* const raw = entry.get();
    raw->start(std::move(entry));
  }
}

void cancel_node::remove_after_func(after_func_entry& entry) {
  std::shared_ptr<after_func_entry> self;
  {
    lock_guard guard(lock_);
    if (entry.linked) links_.remove(entry);
    self = std::move(entry.self);
  }
  // `self` goes here, after the lock: it may hold the last reference to the entry.
}

std::size_t cancel_node::link_count() {
  lock_guard guard(lock_);
  return links_.size();
}

// ---------------------------------------------------------------------------------------------
// deadline_node

deadline_node::~deadline_node() {
  // Wait out a fire() that is running (it holds S), and make sure none comes later.
  auto& service = timer_service::instance();
  service.locked([&] { service.cancel_locked(*this); });
  unlink_from_parent();
  unlinked_for_good_ = true;
}

void deadline_node::arm() {
  auto& service = timer_service::instance();
  service.locked([&] {
    lock_guard guard(lock_);
    // A node that ended meanwhile (its parent, its cancel function) needs no timer.
    if (end() == context_end::live) service.schedule_locked(*this, deadline());
  });
}

void deadline_node::stop_timer_locked() { timer_service::instance().cancel_locked(*this); }

steady_time deadline_node::fire(steady_time) {
  // S is held. The node is intact even if its last handle just went: its destructor waits for
  // S. End it and its subtree right here, stopping the subtree's timers; nothing in this path
  // takes S again or releases a reference to a node.
  cancellation work;
  work.how = context_end::deadline_exceeded;
  work.cause =
      deadline_cause_ != nullptr ? deadline_cause_ : default_cause(context_end::deadline_exceeded);
  work.stop_timers = true;
  bool ended = false;
  {
    lock_guard guard(lock_);
    if (end() == context_end::live) {
      end_subtree_locked(work);
      ended = true;
    }
  }
  if (ended) {
    finish(work);
    unlink_from_parent();
  }
  return no_deadline;
}

// ---------------------------------------------------------------------------------------------
// Subscriptions, sleeping, after_func.

std::size_t context_access::link_count(const context& ctx) {
  cancel_node* const node = canceler(ctx);
  return node != nullptr ? node->link_count() : 0;
}

done_subscription::done_subscription(const context& ctx, waiter& self, std::uint32_t index)
    : node_(context_access::canceler(ctx)) {
  if (node_ == nullptr) return;
  operation_ = operation{&self, &slot_, index};
  refused_ = !node_->enqueue_receive(operation_);
}

done_subscription::~done_subscription() {
  if (node_ != nullptr && !refused_) node_->dequeue_receive(operation_);
}

bool sleep_until_context(steady_time deadline, const context& ctx) {
  if (detail::context_access::ended(ctx)) return false;
  if (deadline <= std::chrono::steady_clock::now()) return true;
  waiter self;
  done_subscription end(ctx, self, 0);
  if (end.refused()) return false;
  note_wait({wait_reason::kind::sleep});
  // Nobody but the end of ctx claims this waiter; the deadline aborts it.
  return self.wait(deadline).final_phase() == waiter::phase::aborted;
}

stop_function register_after_func(const context& ctx, std::shared_ptr<after_func_entry> entry) {
  cancel_node* const node = context_access::canceler(ctx);
  stop_function stop = context_access::make_stop(entry);
  if (node != nullptr) {
    // Keep the whole path to the root alive while registered, as Go's registration does.
    entry->context = std::shared_ptr<cancel_node>(context_access::node(ctx), node);
    node->add_after_func(std::move(entry));
  }
  return stop;
}

std::pair<context, cancel_function> with_deadline_steady(const context& parent,
                                                         steady_time deadline,
                                                         std::exception_ptr cause) {
  if (const auto inherited = parent.deadline(); inherited && *inherited < deadline) {
    // The parent ends sooner: this is just a cancellable child (Go does the same).
    return with_cancel(parent);
  }
  auto node = std::make_shared<deadline_node>(context_access::node(parent), deadline, cause);
  node->attach();
  if (deadline <= std::chrono::steady_clock::now()) {
    node->cancel(context_end::deadline_exceeded, std::move(cause), true);
  } else {
    node->arm();
  }
  return {context_access::make(node),
          context_access::make_function<cancel_function>(std::move(node))};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Public functions.

namespace {

detail::steady_time inherited_deadline(const context& parent) noexcept {
  const detail::cancel_node* const canceler = detail::context_access::canceler(parent);
  return canceler != nullptr ? canceler->deadline() : detail::no_deadline;
}

std::shared_ptr<detail::cancel_node> make_cancel_node(const context& parent) {
  auto node = std::make_shared<detail::cancel_node>(detail::context_access::node(parent),
                                                    inherited_deadline(parent));
  node->attach();
  return node;
}

}  // namespace

void cancel_function::operator()() const {
  if (node_ != nullptr) node_->cancel(detail::context_end::canceled, nullptr, true);
}

void cancel_cause_function::operator()(std::exception_ptr cause) const {
  if (node_ != nullptr) node_->cancel(detail::context_end::canceled, std::move(cause), true);
}

bool stop_function::operator()() const {
  if (entry_ == nullptr || entry_->claimed.exchange(true, std::memory_order_acq_rel)) return false;
  if (entry_->context != nullptr) entry_->context->remove_after_func(*entry_);
  return true;
}

context todo() noexcept {
  // Never destroyed, like the other process-wide objects a detached thread may still use.
  static const std::shared_ptr<detail::context_node>* const root =
      new std::shared_ptr<detail::context_node>(std::make_shared<detail::context_node>(
          detail::context_node::kind::todo, nullptr, nullptr));
  return detail::context_access::make(*root);
}

std::pair<context, cancel_function> with_cancel(const context& parent) {
  auto node = make_cancel_node(parent);
  return {detail::context_access::make(node),
          detail::context_access::make_function<cancel_function>(std::move(node))};
}

std::pair<context, cancel_cause_function> with_cancel_cause(const context& parent) {
  auto node = make_cancel_node(parent);
  return {detail::context_access::make(node),
          detail::context_access::make_function<cancel_cause_function>(std::move(node))};
}

context without_cancel(const context& parent) {
  const auto& node = detail::context_access::node(parent);
  if (node == nullptr) return background();
  return detail::context_access::make(std::make_shared<detail::context_node>(
      detail::context_node::kind::without_cancel, node, nullptr));
}

std::exception_ptr cause(const context& ctx) noexcept {
  const detail::cancel_node* const canceler = detail::context_access::canceler(ctx);
  if (canceler == nullptr || canceler->end() == detail::context_end::live) return nullptr;
  return canceler->cause();
}

}  // namespace csp
