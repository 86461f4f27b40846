// image_overlap: "You have a list of 10,000 images to resize. If you read one image, resize
// it, save it, then read the next, your disk sits idle waiting for the CPU. You want the disk
// to keep feeding images while the CPU crunches the previous batch."
//
// The shape, in Go:
//
//   images := make(chan image, 16)               // the shelf between reader and workers
//   go func() {                                  // the reader: I/O-bound
//       for _, name := range names { images <- read(name) }
//       close(images)
//   }()
//   for w := 0; w < runtime.GOMAXPROCS(0); w++ { // the workers: CPU-bound
//       wg.Add(1)
//       go func() { defer wg.Done(); for img := range images { results <- resize(img) } }()
//   }
//   go func() { wg.Wait(); close(results) }()
//   for r := range results { ... }
//
// The program times that shape against the sequential loop (read, resize, next) and prints how
// much the overlap saved. Reading is simulated with csp::sleep_for — what it models is I/O
// latency, during which the CPU is free — and resizing is real work: a 2x2 box filter that
// halves a synthetic 512x512 greyscale image, refined over several passes. The numbers depend on
// the machine; its test checks only the shape of the output and that both runs computed the same
// images.
//
// Usage: image_overlap [images (default 200)] [workers (default: max_procs())]
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string_view>
#include <vector>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/time.hpp"
#include "csp/wait_group.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto read_latency = 1ms;  // per image: the disk, or the network
constexpr int side = 512;
constexpr int passes = 100;  // refine the result this many times: about as long as a read

struct image {
  int number = 0;
  std::vector<std::uint8_t> pixels;  // side x side, or half that once resized
};

// "Reads" image `number`: waits out the I/O latency, then produces its pixels.
image read(int number) {
  csp::sleep_for(read_latency);
  image loaded{number, std::vector<std::uint8_t>(side * side)};
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      loaded.pixels[y * side + x] = static_cast<std::uint8_t>(x * 3 + y * 5 + number * 7);
    }
  }
  return loaded;
}

// Halves the image with a 2x2 box filter, blending each pass into the previous one, and returns
// a checksum of the result, so the work cannot be optimised away and the runs can be compared.
std::uint64_t resize(const image& source) {
  constexpr int half = side / 2;
  std::vector<std::uint8_t> smaller(half * half);
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < half; ++y) {
      for (int x = 0; x < half; ++x) {
        const std::uint8_t* row = &source.pixels[(2 * y) * side + 2 * x];
        std::uint8_t& out = smaller[y * half + x];
        const int sum = row[0] + row[1] + row[side] + row[side + 1] + out + pass;
        out = static_cast<std::uint8_t>((sum + 2) / 5);
      }
    }
  }
  std::uint64_t checksum = static_cast<std::uint64_t>(source.number);
  for (const std::uint8_t pixel : smaller) checksum = checksum * 31 + pixel;
  return checksum;
}

struct outcome {
  std::chrono::milliseconds took;
  std::uint64_t checksum;  // the sum over all images: independent of the order
};

outcome sequential(int count) {
  const auto start = steady::now();
  std::uint64_t checksum = 0;
  for (int number = 1; number <= count; ++number) checksum += resize(read(number));
  return {std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start), checksum};
}

outcome pipelined(int count, int worker_count, int shelf) {
  const auto start = steady::now();
  csp::channel<image> images(shelf);
  csp::channel<std::uint64_t> results(shelf);

  csp::go([images, count] {  // the reader
    // I/O-bound: it gets a thread of its own (Go's runtime hands a goroutine blocked in a system
    // call a thread of its own too), so that it wakes on time while the workers keep every
    // core of the pool busy. csp does not preempt a computing goroutine; without this, the
    // reader would wait for a worker to block before it could queue the next image.
    csp::lock_os_thread();
    for (int number = 1; number <= count; ++number) images.send(read(number));
    images.close();
  });
  csp::wait_group workers;
  for (int w = 0; w < worker_count; ++w) {
    workers.go([images, results] {
      for (const image& loaded : images) results.send(resize(loaded));
    });
  }
  csp::go([&workers, results] {  // the closer
    workers.wait();
    results.close();
  });

  std::uint64_t checksum = 0;
  for (const std::uint64_t result : results) checksum += result;
  return {std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start), checksum};
}

bool parse_count(std::string_view text, int max, int& count) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return false;
  }
  count = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 200;
  int worker_count = csp::max_procs();
  if (argc > 3 || (argc > 1 && !parse_count(argv[1], 1'000'000, count)) ||
      (argc > 2 && !parse_count(argv[2], 1'000, worker_count))) {
    std::cerr << "usage: image_overlap [images (1..1000000, default 200)] [workers (1..1000, "
                 "default: the number of cores)]\n";
    return 2;
  }
  constexpr int shelf = 16;

  // What one resize costs on this machine, for the reader of the output.
  const image sample = read(0);
  const auto probe_start = steady::now();
  const std::uint64_t probe = resize(sample);
  const std::chrono::duration<double, std::milli> cpu_per_image = steady::now() - probe_start;

  std::cout << "image_overlap: " << count << " images, " << read_latency.count()
            << " ms of I/O to read each, about "
            << static_cast<int>(cpu_per_image.count() * 10) / 10.0
            << " ms of CPU to resize each (checksum " << probe % 1000 << ")\n";

  const outcome one_by_one = sequential(count);
  std::cout << "sequential (read, then resize, one image at a time): " << one_by_one.took.count()
            << " ms\n";

  const outcome overlapped = pipelined(count, worker_count, shelf);
  std::cout << "pipelined (1 reader, " << worker_count << " workers, a shelf of " << shelf
            << " images): " << overlapped.took.count() << " ms\n";

  const auto saved = one_by_one.took - overlapped.took;
  const long long percent =
      one_by_one.took.count() > 0 ? saved.count() * 100 / one_by_one.took.count() : 0;
  std::cout << "the overlap saved " << saved.count() << " ms (" << percent << "%)\n";

  if (one_by_one.checksum != overlapped.checksum) {
    std::cout << "the two runs disagree: sequential " << one_by_one.checksum << ", pipelined "
              << overlapped.checksum << '\n';
    return 1;
  }
  std::cout << "both runs resized the same " << count << " images\n";
}
