// The consumer projects' program: uses csp the way any project that depends on it would, through
// the one header and the csp::csp target, and says "consumer ok" when the round trip works.
#include <csp/csp.hpp>

#include <iostream>
#include <thread>

int main() {
  csp::channel<int> numbers(2);
  std::jthread producer([numbers] {
    for (int i = 1; i <= 3; ++i) numbers.send(i);
    numbers.close();
  });
  int sum = 0;
  for (int n : numbers) sum += n;
  if (sum != 6) {
    std::cerr << "consumer: expected the sum 6, got " << sum << '\n';
    return 1;
  }
  std::cout << "consumer ok\n";
}
