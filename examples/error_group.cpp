// error_group: "use errgroup when you need to cancel all workers if any single worker returns
// an error" — one failing worker stops the others through the group's context.
//
// The Go program it follows:
//
//   g, ctx := errgroup.WithContext(context.Background())
//   images := make(chan int)
//   g.Go(func() error {                       // the producer
//       for i := 1; ; i++ {
//           select {
//           case images <- i:
//           case <-ctx.Done(): return ctx.Err()
//           }
//       }
//   })
//   for w := 1; w <= 4; w++ {
//       g.Go(func() error {                   // the workers
//           for {
//               select {
//               case <-ctx.Done(): return ctx.Err()
//               case i := <-images:
//                   if err := resize(ctx, i); err != nil {
//                       return fmt.Errorf("worker %d: %w", w, err)
//                   }
//               }
//           }
//       })
//   }
//   if err := g.Wait(); err != nil { fmt.Println("the group failed:", err) }
//
// Image 7 is corrupt. Whichever worker takes it fails; that failure cancels ctx, the other
// workers and the producer see it and return, and Wait reports the first failure only: the
// others' "context canceled" are dropped, as in Go.
//
// In C++ a task fails either way: by throwing (the failing worker here) or by returning a
// non-empty std::error_code (the others' `return ctx.err()`, Go's `return ctx.Err()`).
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <syncstream>
#include <system_error>

#include "csp/channel.hpp"
#include "csp/context.hpp"
#include "csp/error_group.hpp"

using namespace std::chrono_literals;

namespace {

std::osyncstream say() { return std::osyncstream(std::cout); }

constexpr int corrupt_image = 7;

// Resizing takes a couple of milliseconds and stops early if the context ends; a corrupt
// image fails. Returns false if ctx ended first.
bool resize(const csp::context& ctx, int image) {
  if (image == corrupt_image) throw std::runtime_error("image 7 is corrupt");
  return csp::sleep_for(2ms, ctx);
}

std::error_code worker(const csp::context& ctx, int id, const csp::receiver<int>& images) {
  for (;;) {
    const auto image = images.receive(ctx);
    if (!image) break;  // canceled: nobody closes images
    try {
      if (!resize(ctx, *image)) break;
    } catch (const std::exception& error) {
      say() << "worker " << id << " failed on image " << *image << '\n';
      throw std::runtime_error("worker " + std::to_string(id) + ": " + error.what());
    }
    say() << "worker " << id << " resized image " << *image << '\n';
  }
  say() << "worker " << id << " stopped: " << ctx.err().message() << '\n';
  return ctx.err();  // a failure too, but a later one: the group drops it
}

}  // namespace

int main() {
  constexpr int worker_count = 4;
  say() << "main: " << worker_count << " workers resize images until one of them fails\n";

  auto [g, ctx] = csp::error_group::with_context(csp::background());
  csp::channel<int> images;

  g.go([ctx = ctx, images]() -> std::error_code {
    for (int image = 1;; ++image) {
      if (!images.send(image, ctx)) {
        say() << "producer stopped: " << ctx.err().message() << '\n';
        return ctx.err();
      }
    }
  });
  for (int id = 1; id <= worker_count; ++id) {
    g.go([ctx = ctx, id, images] { return worker(ctx, id, images); });
  }

  // wait() returns once every task has returned, and rethrows the first failure.
  try {
    g.wait();
    say() << "main: every image was resized\n";
  } catch (const std::exception& failure) {
    say() << "main: the group failed: " << failure.what() << '\n';
  }
  say() << "main: the other workers and the producer had stopped, nothing is left running\n";
}
