// context_node.hpp: the tree behind csp::context — its nodes, and how cancellation runs down it.
//
// A csp::context is a shared pointer to one immutable `context_node`. Nodes form a tree through
// their `parent` pointers (strong references: a context keeps its ancestors alive, and with them
// its values). Three kinds of node carry nothing but a link upwards: the root of todo() (the
// root of background() is no node at all: a null pointer), value nodes, and without_cancel
// nodes. Cancellation lives in `cancel_node`s (with_cancel, with_cancel_cause) and their
// subclass `deadline_node` (with_deadline and friends).
//
// Every node knows its `canceler`: the nearest cancel node on its path to the root, itself
// included, or null when nothing can ever end it. err(), done(), deadline() and cause() are
// questions to the canceler only, so they cost two loads whatever the depth of the tree.
//
// A cancel node is also its own done channel: it derives from channel_core<std::monostate>, a
// channel nobody can send on, closed when the node ends. done() hands out a receiver that
// shares ownership of the node, so it is the same channel every time, costs no allocation, and
// wakes every party queued on it (a select, a receive(ctx), a wait_group::wait(ctx)) the way a
// close does.
//
// Links (the children list). A cancel node keeps an intrusive list of what must end with it:
// the cancel nodes whose canceler's parent is this node (its children), and after_func
// registrations. Entries are raw pointers; a child removes itself when it is cancelled, and
// when it is destroyed, so a long-lived parent never accumulates dead children (Go's cancel
// function "removes the parent's reference to the child"; here even a forgotten cancel does
// not leak once the child's last handle is gone).
//
// Locks and their order:
//   S     the timer service's lock (detail/timer_service.hpp), held while timers fire;
//   N(x)  node x's lock: the channel lock of its done channel (channel_core::lock_).
//   Order: S before any N; a parent's N before its child's N. Nothing takes S while holding an
//   N. A node's destructor takes S (to cancel its timer) and then N(parent), one after the
//   other, never both.
//
// Cancellation (cancel_node::cancel, deadline_node::fire): under N(root) the root ends — its
// error word and cause are set, its done channel closes, its waiting receivers are claimed —
// and then, depth first, every descendant, each under its own N taken while its parent's N is
// still held. Holding the parent's lock is what keeps a child intact even if its last handle is
// dropped meanwhile: its destructor waits for that lock to unlink itself. The walk keeps no
// stack of its own (it climbs back through the children's owner pointers), allocates nothing
// and cannot throw. Whenever the subtree may hold timers the walk runs under S too, and stops
// the timers as it ends their nodes. Waking the claimed parties, starting after_func callbacks
// and unlinking the root from its parent happen after every lock is released.
//
// Memory ordering: a node's cause is written before its error word (release) and its done
// channel's closed flag (release), all under N; err() reads the error word with acquire. So
// cancel() happens before any observation of the end — err() non-empty, done() closed, cause()
// non-null — and all three agree once any one is seen.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <variant>

#include "csp/detail/channel/core.hpp"
#include "csp/detail/timer_service.hpp"
#include "csp/detail/waiter.hpp"

namespace csp::detail {

// How a context ended; the value of cancel_node's error word.
enum class context_end : std::uint8_t { live = 0, canceled = 1, deadline_exceeded = 2 };

class cancel_node;

// One node of the context tree. Immutable once built.
class context_node {
 public:
  enum class kind : std::uint8_t { todo, cancel, deadline, value, without_cancel };

  context_node(kind what, std::shared_ptr<context_node> parent, cancel_node* canceler) noexcept
      : what(what), parent(std::move(parent)), canceler(canceler) {}
  virtual ~context_node() = default;
  context_node(const context_node&) = delete;
  context_node& operator=(const context_node&) = delete;

  const kind what;
  // The context this one was derived from; null for the roots.
  const std::shared_ptr<context_node> parent;
  // The nearest cancel node from here to the root, this one included; null: never ends.
  cancel_node* const canceler;
  // Value nodes: the address of the context_key (its identity), and of the value.
  const void* key = nullptr;
  const void* value = nullptr;
};

// Returns the value stored under `key` by `node` or its nearest ancestor that has one, or null.
inline const void* find_value(const context_node* node, const void* key) noexcept {
  for (; node != nullptr; node = node->parent.get()) {
    if (node->key == key) return node->value;
  }
  return nullptr;
}

// A value node: with_value(parent, key, value).
template <class T>
class value_node final : public context_node {
 public:
  template <class... Args>
  value_node(const std::shared_ptr<context_node>& parent, const void* key_address, Args&&... args)
      : context_node(kind::value, parent, parent ? parent->canceler : nullptr),
        stored(std::forward<Args>(args)...) {
    key = key_address;
    value = &stored;
  }

 private:
  const T stored;
};

// An entry in a cancel node's list of what ends with it: a child cancel node, or an after_func
// registration. `prev`, `next` and `linked` are guarded by the lock of the node whose list
// holds the entry.
struct cancel_link {
  explicit cancel_link(bool is_context) noexcept : is_context(is_context) {}
  cancel_link* prev = nullptr;
  cancel_link* next = nullptr;
  bool linked = false;
  const bool is_context;
};

// An intrusive doubly linked list of cancel_links; never allocates.
class cancel_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  void push_back(cancel_link& link) noexcept {
    link.prev = tail_;
    link.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &link;
    tail_ = &link;
    link.linked = true;
    ++size_;
  }
  void remove(cancel_link& link) noexcept {
    (link.prev != nullptr ? link.prev->next : head_) = link.next;
    (link.next != nullptr ? link.next->prev : tail_) = link.prev;
    link.prev = link.next = nullptr;
    link.linked = false;
    --size_;
  }
  cancel_link* pop_front() noexcept {
    cancel_link* const first = head_;
    if (first != nullptr) remove(*first);
    return first;
  }

 private:
  cancel_link* head_ = nullptr;
  cancel_link* tail_ = nullptr;
  std::size_t size_ = 0;
};

// An after_func registration. Ownership: the stop function holds one reference; while linked
// the entry also holds itself (`self`), so that it lives until it runs even if the stop
// function is dropped. The first of "run" and "stop" to set `claimed` decides.
class after_func_entry : public cancel_link {
 public:
  after_func_entry() noexcept : cancel_link(false) {}
  virtual ~after_func_entry() = default;
  after_func_entry(const after_func_entry&) = delete;
  after_func_entry& operator=(const after_func_entry&) = delete;

  // Starts the callback in a new goroutine; `self` goes with it.
  virtual void start(std::shared_ptr<after_func_entry> self) = 0;

  std::atomic<bool> claimed{false};
  // The node it is registered on (aliasing the context's own node, so the whole path to the
  // root stays alive and linked, as a registration does in Go).
  std::shared_ptr<cancel_node> context;
  // The list's reference while linked; guarded by context's lock. Taken by whoever unlinks or
  // claims the entry.
  std::shared_ptr<after_func_entry> self;
};

// The work one cancellation collects under the node locks and finishes after releasing them.
struct cancellation {
  context_end how = context_end::canceled;
  std::exception_ptr cause;
  bool stop_timers = false;  // S is held: stop the timers of the deadline nodes that end
  wait_queue woken;          // operations claimed from the done channels
  after_func_entry* callbacks = nullptr;  // claimed entries to start, linked through `next`
};

// A cancellable context; also its own done channel.
class cancel_node : public context_node, public cancel_link, public channel_core<std::monostate> {
 public:
  // `deadline`: the context's effective deadline (already no later than the parent's).
  cancel_node(std::shared_ptr<context_node> parent, steady_time deadline,
              kind what = kind::cancel) noexcept;
  ~cancel_node() override;

  // How the context ended, or live; acquire, so the cause is visible once this is not live.
  context_end end() const noexcept {
    return static_cast<context_end>(end_.load(std::memory_order_acquire));
  }
  // The cause; meaningful only once end() is not live (it never changes afterwards).
  const std::exception_ptr& cause() const noexcept { return cause_; }
  steady_time deadline() const noexcept { return deadline_; }

  // Links this new node under its parent's canceler, or ends it at once with that canceler's
  // error and cause if that one has already ended. Call once, right after construction.
  void attach();

  // Ends this context and every descendant with `how` and `cause` (null: the error's own
  // exception); the first end wins and later calls do nothing. `remove_from_parent` unlinks
  // this node from its parent's list (a cancel function does; a parent cancelling its
  // children does not need to, it dissolves its list).
  void cancel(context_end how, std::exception_ptr cause, bool remove_from_parent);

  // Registers `entry` (whose `context` is set to this node); starts it at once if this context
  // has already ended.
  void add_after_func(std::shared_ptr<after_func_entry> entry);
  // Unregisters an entry that its caller claimed.
  void remove_after_func(after_func_entry& entry);

  // The number of children and registrations linked to this node; for tests and diagnostics.
  std::size_t link_count();
  // The number of operations queued on the done channel, stale ones included; lock-free.
  std::size_t waiting_hint() const noexcept CSP_NO_THREAD_SAFETY_ANALYSIS {
    return receivers_.length_hint();
  }

 protected:
  // Ends this node alone, its lock held: sets the error word, closes the done channel, claims
  // the waiting receivers into `work`. False if it had already ended.
  bool end_locked(cancellation& work) CSP_REQUIRES(lock_);
  // Ends this node (its lock held, not yet ended) and its whole subtree; see the top.
  void end_subtree_locked(cancellation& work) CSP_REQUIRES(lock_);
  // Finishes `work` after every lock is released: wakes, starts callbacks.
  static void finish(cancellation& work);
  // Removes this node from its owner's list if it is still there.
  void unlink_from_parent();
  // Stops this node's timer, S held; deadline nodes only.
  virtual void stop_timer_locked() {}

  // The done channel: nobody sends; a receive finds it closed or waits.
  bool send_locked(std::monostate&, wake_list&) override CSP_REQUIRES(lock_) { return false; }
  channel_status receive_locked(std::optional<std::monostate>&, wake_list&) override
      CSP_REQUIRES(lock_) {
    return closed_.load(std::memory_order_relaxed) ? channel_status::closed : channel_status::empty;
  }
  bool can_send_locked(const waiter*) const override CSP_REQUIRES(lock_) { return false; }
  bool can_receive_locked(const waiter*) const override CSP_REQUIRES(lock_) { return false; }

  // The cancel node whose list holds this one: the parent's canceler; null when nothing above
  // can end this node (a root, or below without_cancel).
  cancel_node* const owner_;
  bool unlinked_for_good_ = false;  // set by the destroying thread once it unlinked

 private:
  std::atomic<std::uint8_t> end_{0};
  std::exception_ptr cause_;  // written once under lock_, before end_
  const steady_time deadline_;
  cancel_list links_ CSP_GUARDED_BY(lock_);
};

// A cancel node with a deadline of its own: with_deadline, with_timeout and their _cause forms.
// Its timer node fires on the service thread with S held and cancels the subtree right there.
class deadline_node final : public cancel_node, public timer_node {
 public:
  deadline_node(std::shared_ptr<context_node> parent, steady_time deadline,
                std::exception_ptr deadline_cause) noexcept
      : cancel_node(std::move(parent), deadline, kind::deadline),
        deadline_cause_(std::move(deadline_cause)) {}
  ~deadline_node() override;

  // Arms the timer unless the node has already ended.
  void arm();

  steady_time fire(steady_time now) override;

 private:
  void stop_timer_locked() override;

  const std::exception_ptr deadline_cause_;
};

// Process-wide exceptions that causes default to: std::system_error carrying
// csp::errc::canceled or csp::errc::deadline_exceeded.
const std::exception_ptr& default_cause(context_end how) noexcept;

}  // namespace csp::detail
