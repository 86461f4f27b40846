// goroutine_test.cpp: Go's conformance programs for channels, ported to csp with goroutines.
//
// Sources (go-semantics.md §4): golang/go test/chan/sieve1.go, powser1.go, goroutines.go,
// fifo.go, select7.go, doubleselect.go, and TestSelectFairness in src/runtime/chan_test.go.
// The thread-based ports of some of them are in fifo_test.cpp and select_test.cpp; here every Go
// goroutine is a csp goroutine and Go's main runs under csp::run, as a goroutine too. Each test
// runs with 1, 2 and 4 worker threads (tests/support/runtime_fixture.hpp), whose TearDown also
// checks that every goroutine has exited. Translations:
//   - Go's programs end with main and leave their other goroutines blocked forever; here those
//     goroutines also watch a `quit` channel, which main closes at the end, and main waits for
//     them (a wait_group) before it returns;
//   - panic(...) for a wrong value becomes a test failure; nothing throws out of a goroutine.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "csp/channel.hpp"
#include "csp/go.hpp"
#include "csp/select.hpp"
#include "csp/wait_group.hpp"
#include "support/runtime_fixture.hpp"

namespace {

using csp_test::patience;
using csp_test::scaled;

class GoGoroutines : public csp_test::RuntimeTest {};
CSP_INSTANTIATE_RUNTIME_TEST(GoGoroutines);

// =============================================================================================
// golang/go test/chan/sieve1.go: the classical inefficient concurrent prime sieve, a linear
// chain of divisibility filters. Added: `quit`, so that the chain can be taken down; a filter
// whose input closes closes its output, and the collapse runs down the chain.

// Send the sequence 2, 3, 4, ... to channel 'ch'.
void Generate(csp::sender<int> ch, csp::receiver<int> quit) {
  for (int i = 2;; i++) {
    if (csp::select(csp::on_send(ch, i), csp::on_receive(quit)) == 1) break;  // ch <- i
  }
  ch.close();
}

// Copy the values from channel 'in' to channel 'out', removing those divisible by 'prime'.
void Filter(csp::receiver<int> in, csp::sender<int> out, int prime, csp::receiver<int> quit) {
  for (int i : in) {  // Loop over values received from 'in'.
    if (i % prime != 0) {
      if (csp::select(csp::on_send(out, i), csp::on_receive(quit)) == 1) break;  // out <- i
    }
  }
  out.close();
}

// The prime sieve: Daisy-chain Filter processes together.
void Sieve(csp::sender<int> primes, csp::receiver<int> quit, csp::wait_group& wg) {
  csp::channel<int> ch;                // Create a new channel.
  wg.go([=] { Generate(ch, quit); });  // Start Generate() as a subprocess.
  for (;;) {
    // Note that ch is different on each iteration.
    std::optional<int> prime;  // prime := <-ch
    if (csp::select(csp::on_receive(ch, prime), csp::on_receive(quit)) == 1 || !prime) break;
    if (csp::select(csp::on_send(primes, *prime), csp::on_receive(quit)) == 1) break;
    csp::channel<int> ch1;
    wg.go([=, p = *prime] { Filter(ch, ch1, p, quit); });
    ch = ch1;
  }
}

TEST_P(GoGoroutines, Sieve1) {  // test/chan/sieve1.go
  const std::vector<int> a = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                              43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};
  const std::vector<int> got = csp::run([&] {
    csp::channel<int> primes;
    csp::channel<int> quit;
    csp::wait_group wg;
    wg.go([&] { Sieve(primes, quit, wg); });
    std::vector<int> x;
    for (std::size_t i = 0; i < a.size(); i++) x.push_back(*primes.receive());
    quit.close();
    wg.wait();
    return x;
  });
  EXPECT_EQ(got, a);
}

// =============================================================================================
// golang/go test/chan/powser1.go: power series as demand-driven channels of exact rationals
// (Doug McIlroy, "Squinting at Power Series"; original code in Newsqueak). A power series is a
// pair of channels: a request channel, on which the consumer asks for the next coefficient,
// and a data channel, on which it comes; a denominator of zero ends a series.
//
// The structure is kept: one goroutine per operator, split's generations of goroutines that
// swap the shared pair of outputs, getn's select that nils out served cases. The globals of the
// Go program (seqno, zero, one, finis, Ones, Twos) are members of `powser`, so each test has
// its own. Every blocking operation also watches `quit` (see recv/send below) and every
// goroutine is counted in `wg`, so that they can all be stopped and waited for when main is
// done; in Go they die with the program. Dropped: the channel names (`nam`, used only by the
// original's debugging), and the operators that main does not use (Monmul, Xmul, Mon, Shift,
// Binom, Recip, Subst, Poly) and printing and evaluation.

struct rat {
  std::int64_t num, den;  // numerator, denominator

  bool eq(rat c) const { return num == c.num && den == c.den; }
  friend std::ostream& operator<<(std::ostream& out, rat u) {  // Go's pr()
    if (u.den == 1) return out << u.num;
    return out << u.num << "/" << u.den;
  }
};

// Thrown inside a powser goroutine when `quit` closes; it ends the goroutine.
struct stop {};

struct dch {
  csp::channel<int> req;
  csp::channel<rat> dat;
};

using dch2 = std::array<dch, 2>;

class powser {
 public:
  using PS = dch;                     // power series
  using PS2 = std::shared_ptr<dch2>;  // pair of power series, shared like Go's *dch2

  // --- Plumbing: Go's channel operations, plus the way out when main is done. ---------------

  template <class T>
  T recv(const csp::channel<T>& c) {  // <-c
    std::optional<T> v;
    if (csp::select(csp::on_receive(c, v), csp::on_receive(quit_)) == 1 || !v) throw stop{};
    return *std::move(v);
  }

  template <class T>
  void send(const csp::channel<T>& c, T v) {  // c <- v
    if (csp::select(csp::on_send(c, std::move(v)), csp::on_receive(quit_)) == 1) throw stop{};
  }

  template <class F>
  void go(F&& f) {  // go f()
    wg_.go([f = std::forward<F>(f)]() mutable {
      try {
        f();
      } catch (const stop&) {
      }
    });
  }

  // Stops every goroutine and waits until they have all returned.
  void shutdown() {
    quit_.close();
    wg_.wait();
  }

  dch mkdch() { return dch{csp::channel<int>(), csp::channel<rat>()}; }

  PS2 mkdch2() { return std::make_shared<dch2>(dch2{mkdch(), mkdch()}); }

  // split reads a single demand channel and replicates its output onto two, which may be read
  // at different rates. A process is created at first demand for a rat and dies after the rat
  // has been sent to both outputs.
  //
  // When multiple generations of split exist, the newest will service requests on one
  // channel, which is always renamed to be out[0]; the oldest will service requests on the
  // other channel, out[1]. All generations but the newest hold queued data that has already
  // been sent to out[0]. When data has finally been sent to out[1], a signal on the
  // release-wait channel tells the next newer generation to begin servicing out[1].

  void dosplit(dch in, PS2 out, csp::channel<int> wait) {
    bool both = false;  // do not service both channels

    switch (csp::select(csp::on_receive((*out)[0].req), csp::on_receive(wait),
                        csp::on_receive(quit_))) {
      case 0:  // <-out[0].req
        break;
      case 1:  // <-wait
        both = true;
        switch (csp::select(csp::on_receive((*out)[0].req), csp::on_receive((*out)[1].req),
                            csp::on_receive(quit_))) {
          case 0:
            break;
          case 1:
            std::swap((*out)[0], (*out)[1]);
            break;
          default:
            throw stop{};
        }
        break;
      default:
        throw stop{};
    }

    send(in.req, ++seqno_);
    csp::channel<int> release;
    go([=, this] { dosplit(in, out, release); });
    const rat dat = recv(in.dat);
    send((*out)[0].dat, dat);
    if (!both) {
      recv(wait);
    }
    recv((*out)[1].req);
    send((*out)[1].dat, dat);
    send(release, 0);
  }

  void split(dch in, PS2 out) {
    csp::channel<int> release;
    go([=, this] { dosplit(in, out, release); });
    send(release, 0);
  }

  void put(rat dat, const dch& out) {
    recv(out.req);
    send(out.dat, dat);
  }

  rat get(const dch& in) {
    send(in.req, ++seqno_);
    return recv(in.dat);
  }

  // Get one rat from each of n demand channels
  std::array<rat, 2> getn(const std::array<dch, 2>& in) {
    const int n = static_cast<int>(in.size());
    if (n != 2) throw std::logic_error("bad n in getn");
    std::array<csp::channel<int>, 2> req;
    std::array<csp::channel<rat>, 2> dat;
    std::array<rat, 2> out{};
    for (int i = 0; i < n; i++) {
      req[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)].req;
      dat[static_cast<std::size_t>(i)] = nullptr;
    }
    for (int k = 2 * n; k > 0; k--) {
      const int seqno = ++seqno_;
      std::optional<rat> it;
      switch (csp::select(csp::on_send(req[0], seqno), csp::on_send(req[1], seqno),
                          csp::on_receive(dat[0], it), csp::on_receive(dat[1], it),
                          csp::on_receive(quit_))) {
        case 0:  // req[0] <- seqno
          dat[0] = in[0].dat;
          req[0] = nullptr;
          break;
        case 1:  // req[1] <- seqno
          dat[1] = in[1].dat;
          req[1] = nullptr;
          break;
        case 2:  // it = <-dat[0]
          if (!it) throw stop{};
          out[0] = *it;
          dat[0] = nullptr;
          break;
        case 3:  // it = <-dat[1]
          if (!it) throw stop{};
          out[1] = *it;
          dat[1] = nullptr;
          break;
        default:
          throw stop{};
      }
    }
    return out;
  }

  // Get one rat from each of 2 demand channels
  std::array<rat, 2> get2(const dch& in0, const dch& in1) { return getn({in0, in1}); }

  void copy(const dch& in, const dch& out) {
    for (;;) {
      recv(out.req);
      send(out.dat, get(in));
    }
  }

  void repeat(rat dat, const dch& out) {
    for (;;) put(dat, out);
  }

  PS Ones, Twos;

  PS mkPS() { return mkdch(); }
  PS2 mkPS2() { return mkdch2(); }

  // Conventions
  // Upper-case for power series.
  // Lower-case for rationals.
  // Input variables: U,V,...
  // Output variables: ...,Y,Z

  // Integer gcd; needed for rational arithmetic

  static std::int64_t gcd(std::int64_t u, std::int64_t v) {
    if (u < 0) return gcd(-u, v);
    if (u == 0) return v;
    return gcd(v % u, u);
  }

  // Make a rational from two ints and from one int

  static rat i2tor(std::int64_t u, std::int64_t v) {
    const std::int64_t g = gcd(u, v);
    rat r{};
    if (v > 0) {
      r.num = u / g;
      r.den = v / g;
    } else {
      r.num = -u / g;
      r.den = -v / g;
    }
    return r;
  }

  static rat itor(std::int64_t u) { return i2tor(u, 1); }

  rat zero{}, one{};

  // End mark and end test

  rat finis{};

  static std::int64_t end(rat u) { return u.den == 0 ? 1 : 0; }

  // Operations on rationals

  static rat add(rat u, rat v) {
    const std::int64_t g = gcd(u.den, v.den);
    return i2tor(u.num * (v.den / g) + v.num * (u.den / g), u.den * (v.den / g));
  }

  static rat mul(rat u, rat v) {
    const std::int64_t g1 = gcd(u.num, v.den);
    const std::int64_t g2 = gcd(u.den, v.num);
    rat r{};
    r.num = (u.num / g1) * (v.num / g2);
    r.den = (u.den / g2) * (v.den / g1);
    return r;
  }

  static rat neg(rat u) { return i2tor(-u.num, u.den); }

  static rat sub(rat u, rat v) { return add(u, neg(v)); }

  // Power-series constructors return channels on which power series flow. They start an
  // encapsulated generator that puts the terms of the series on the channel.

  // Make a pair of power series identical to a given power series

  PS2 Split(PS U) {
    PS2 UU = mkdch2();
    go([=, this] { split(U, UU); });
    return UU;
  }

  // Add two power series
  PS Add(PS U, PS V) {
    PS Z = mkPS();
    go([=, this] {
      std::array<rat, 2> uv;
      for (;;) {
        recv(Z.req);
        uv = get2(U, V);
        switch (end(uv[0]) + 2 * end(uv[1])) {
          case 0:
            send(Z.dat, add(uv[0], uv[1]));
            break;
          case 1:
            send(Z.dat, uv[1]);
            copy(V, Z);
            break;
          case 2:
            send(Z.dat, uv[0]);
            copy(U, Z);
            break;
          case 3:
            send(Z.dat, finis);
        }
      }
    });
    return Z;
  }

  // Multiply a power series by a constant
  PS Cmul(rat c, PS U) {
    PS Z = mkPS();
    go([=, this] {
      bool done = false;
      while (!done) {
        recv(Z.req);
        const rat u = get(U);
        if (end(u) != 0) {
          done = true;
        } else {
          send(Z.dat, mul(c, u));
        }
      }
      send(Z.dat, finis);
    });
    return Z;
  }

  // Subtract

  PS Sub(PS U, PS V) { return Add(U, Cmul(neg(one), V)); }

  PS Rep(rat c) {
    PS Z = mkPS();
    go([=, this] { repeat(c, Z); });
    return Z;
  }

  // Multiply. The algorithm is
  //	let U = u + x*UU
  //	let V = v + x*VV
  //	then UV = u*v + x*(u*VV+v*UU) + x*x*UU*VV

  PS Mul(PS U, PS V) {
    PS Z = mkPS();
    go([=, this] {
      recv(Z.req);
      const std::array<rat, 2> uv = get2(U, V);
      if (end(uv[0]) != 0 || end(uv[1]) != 0) {
        send(Z.dat, finis);
      } else {
        send(Z.dat, mul(uv[0], uv[1]));
        PS2 UU = Split(U);
        PS2 VV = Split(V);
        PS W = Add(Cmul(uv[0], (*VV)[0]), Cmul(uv[1], (*UU)[0]));
        recv(Z.req);
        send(Z.dat, get(W));
        copy(Add(W, Mul((*UU)[1], (*VV)[1])), Z);
      }
    });
    return Z;
  }

  // Differentiate

  PS Diff(PS U) {
    PS Z = mkPS();
    go([=, this] {
      recv(Z.req);
      rat u = get(U);
      if (end(u) == 0) {
        bool done = false;
        for (int i = 1; !done; i++) {
          u = get(U);
          if (end(u) != 0) {
            done = true;
          } else {
            send(Z.dat, mul(itor(i), u));
            recv(Z.req);
          }
        }
      }
      send(Z.dat, finis);
    });
    return Z;
  }

  // Integrate, with const of integration
  PS Integ(rat c, PS U) {
    PS Z = mkPS();
    go([=, this] {
      put(c, Z);
      bool done = false;
      for (int i = 1; !done; i++) {
        recv(Z.req);
        const rat u = get(U);
        if (end(u) != 0) {
          done = true;
        }
        send(Z.dat, mul(i2tor(1, i), u));
      }
      send(Z.dat, finis);
    });
    return Z;
  }

  // Exponential of a power series with constant term 0
  // (nonzero constant term would make nonrational coefficients)
  // bug: the constant term is simply ignored
  //	Z = exp(U)
  //	DZ = Z*DU
  //	integrate to get Z

  PS Exp(PS U) {
    PS2 ZZ = mkPS2();
    split(Integ(one, Mul((*ZZ)[0], Diff(U))), ZZ);
    return (*ZZ)[1];
  }

  // Monomial Substitution: U(c x^n)
  // Each Ui is multiplied by c^i and followed by n-1 zeros

  PS MonSubst(PS U, rat c0, int n) {
    PS Z = mkPS();
    go([=, this] {
      rat c = one;
      for (;;) {
        recv(Z.req);
        const rat u = get(U);
        send(Z.dat, mul(u, c));
        c = mul(c, c0);
        if (end(u) != 0) {
          send(Z.dat, finis);
          break;
        }
        for (int i = 1; i < n; i++) {
          recv(Z.req);
          send(Z.dat, zero);
        }
      }
    });
    return Z;
  }

  void Init() {
    seqno_ = 0;
    zero = itor(0);
    one = itor(1);
    finis = i2tor(1, 0);
    Ones = Rep(one);
    Twos = Rep(itor(2));
  }

  void check(const PS& U, rat c, int count, const std::string& str) {
    for (int i = 0; i < count; i++) {
      const rat r = get(U);
      if (!r.eq(c)) {
        ADD_FAILURE() << str << ": got: " << r << " should get " << c;  // Go: panic(str)
      }
    }
  }

  static constexpr int N = 10;

  void checka(const PS& U, const std::vector<rat>& a, const std::string& str) {
    for (int i = 0; i < N; i++) {
      check(U, a[static_cast<std::size_t>(i)], 1, str + " term " + std::to_string(i));
    }
  }

  // func main(), the test branch.
  void main() {
    Init();
    check(Ones, one, 5, "Ones");
    check(Add(Ones, Ones), itor(2), 0, "Add Ones Ones");  // 1 1 1 1 1
    check(Add(Ones, Twos), itor(3), 0, "Add Ones Twos");  // 3 3 3 3 3
    std::vector<rat> a(N);
    const PS d = Diff(Ones);
    for (int i = 0; i < N; i++) {
      a[static_cast<std::size_t>(i)] = itor(i + 1);
    }
    checka(d, a, "Diff");  // 1 2 3 4 5
    const PS in = Integ(zero, Ones);
    a[0] = zero;  // integration constant
    for (int i = 1; i < N; i++) {
      a[static_cast<std::size_t>(i)] = i2tor(1, i);
    }
    checka(in, a, "Integ");                                // 0 1 1/2 1/3 1/4 1/5
    check(Cmul(neg(one), Twos), itor(-2), 10, "CMul");     // -1 -1 -1 -1 -1
    check(Sub(Ones, Twos), itor(-1), 0, "Sub Ones Twos");  // -1 -1 -1 -1 -1
    const PS m = Mul(Ones, Ones);
    for (int i = 0; i < N; i++) {
      a[static_cast<std::size_t>(i)] = itor(i + 1);
    }
    checka(m, a, "Mul");  // 1 2 3 4 5
    const PS e = Exp(Ones);
    a[0] = itor(1);
    a[1] = itor(1);
    a[2] = i2tor(3, 2);
    a[3] = i2tor(13, 6);
    a[4] = i2tor(73, 24);
    a[5] = i2tor(167, 40);
    a[6] = i2tor(4051, 720);
    a[7] = i2tor(37633, 5040);
    a[8] = i2tor(43817, 4480);
    a[9] = i2tor(4596553, 362880);
    checka(e, a, "Exp");  // 1 1 3/2 13/6 73/24
    const PS at = Integ(zero, MonSubst(Ones, neg(one), 2));
    for (int c = 1, i = 0; i < N; i++) {
      if (i % 2 == 0) {
        a[static_cast<std::size_t>(i)] = zero;
      } else {
        a[static_cast<std::size_t>(i)] = i2tor(c, i);
        c *= -1;
      }
    }
    checka(at, a, "ATan");  // 0 -1 0 -1/3 0 -1/5
  }

 private:
  std::atomic<int> seqno_{0};  // Go's seqno: every request carries the next number
  csp::channel<int> quit_;     // closed by shutdown()
  csp::wait_group wg_;         // every goroutine of the program
};

TEST_P(GoGoroutines, Powser1) {  // test/chan/powser1.go
  csp::run([] {
    powser program;
    program.main();
    program.shutdown();
  });
}

TEST_P(GoGoroutines, Powser1Rationals) {  // test/chan/powser1.go: the rational arithmetic
  using p = powser;
  EXPECT_TRUE(p::i2tor(2, 4).eq(rat{1, 2}));
  EXPECT_TRUE(p::i2tor(3, -6).eq(rat{-1, 2}));
  EXPECT_TRUE(p::add(p::i2tor(1, 2), p::i2tor(1, 3)).eq(rat{5, 6}));
  EXPECT_TRUE(p::mul(p::i2tor(2, 3), p::i2tor(9, 4)).eq(rat{3, 2}));
  EXPECT_TRUE(p::sub(p::itor(1), p::i2tor(1, 3)).eq(rat{2, 3}));
  EXPECT_TRUE(p::neg(p::i2tor(1, 3)).eq(rat{-1, 3}));
  EXPECT_EQ(p::end(p::i2tor(1, 0)), 1);
  EXPECT_EQ(p::end(p::itor(0)), 0);
}

// =============================================================================================
// golang/go test/chan/goroutines.go: a chain of n = 10,000 goroutines, each passing on what
// its right neighbour sends; an extra goroutine feeds the rightmost. Checks mass creation and
// clean teardown. Go's f is `left <- <-right`; here each link adds one, so that the result
// shows that every link ran. (Under TSan 1,000 links: each goroutine is a TSan fiber, which
// costs about a millisecond to create.)

// func f(left, right chan int)
void f(csp::sender<int> left, csp::receiver<int> right) { left.send(*right.receive() + 1); }

TEST_P(GoGoroutines, Goroutines) {  // test/chan/goroutines.go
  const int n = csp_test::tsan ? 1'000 : scaled(10'000, 2);
  const int result = csp::run([=] {
    csp::channel<int> leftmost;
    csp::channel<int> right = leftmost;
    csp::channel<int> left = leftmost;
    for (int i = 0; i < n; ++i) {
      right = csp::channel<int>();
      csp::go(f, csp::sender<int>(left), csp::receiver<int>(right));
      left = right;
    }
    csp::go([](csp::sender<int> c) { c.send(1); }, csp::sender<int>(right));
    return *leftmost.receive();
  });
  EXPECT_EQ(result, n + 1);
}

// =============================================================================================
// golang/go test/chan/fifo.go: unbuffered channels act as pure FIFOs.

constexpr int N = 10;

TEST_P(GoGoroutines, AsynchFifo) {  // test/chan/fifo.go AsynchFifo
  csp::run([] {
    csp::channel<int> ch(N);
    for (int i = 0; i < N; i++) ch.send(i);
    for (int i = 0; i < N; i++) {
      EXPECT_EQ(*ch.receive(), i) << "bad receive";
    }
  });
}

// func Chain(ch <-chan int, val int, in <-chan int, out chan<- int)
void Chain(csp::receiver<int> ch, int val, csp::receiver<int> in, csp::sender<int> out,
           std::atomic<int>& failures) {
  (void)in.receive();
  if (*ch.receive() != val) failures.fetch_add(1);  // Go: panic(val)
  out.send(1);
}

// Thread together a daisy chain to read the elements in sequence.
TEST_P(GoGoroutines, SynchFifo) {  // test/chan/fifo.go SynchFifo
  // Go runs it once; more rounds explore more interleavings.
  std::atomic<int> failures{0};
  const int rounds = scaled(50, 5);
  csp::run([&] {
    for (int round = 0; round < rounds; ++round) {
      csp::channel<int> ch;
      csp::channel<int> in;
      csp::channel<int> start = in;
      for (int i = 0; i < N; i++) {
        csp::channel<int> out;
        csp::go(Chain, csp::receiver<int>(ch), i, csp::receiver<int>(in), csp::sender<int>(out),
                std::ref(failures));
        in = out;
      }
      start.send(0);
      for (int i = 0; i < N; i++) ch.send(i);
      (void)in.receive();
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

// =============================================================================================
// golang/go test/chan/select7.go: select when discarding a value, in all 9 combinations of
// {<-c, 1-case select, 2-case select with an idle c2} x {c <- 1, 1-case select, 2-case select},
// each with runtime.Gosched() (csp::yield) between starting the receiver and sending.

void recv1(csp::receiver<int> c) { (void)c.receive(); }

void recv2(csp::receiver<int> c) { csp::select(csp::on_receive(c)); }

void recv3(csp::receiver<int> c) {
  csp::channel<int> c2;
  csp::select(csp::on_receive(c), csp::on_receive(c2));
}

void send1(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  csp::go(recv, csp::receiver<int>(c));
  csp::yield();
  c.send(1);
}

void send2(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  csp::go(recv, csp::receiver<int>(c));
  csp::yield();
  csp::select(csp::on_send(c, 1));
}

void send3(void (*recv)(csp::receiver<int>)) {
  csp::channel<int> c;
  csp::go(recv, csp::receiver<int>(c));
  csp::yield();
  csp::channel<int> c2;
  csp::select(csp::on_send(c, 1), csp::on_send(c2, 1));
}

TEST_P(GoGoroutines, Select7) {  // test/chan/select7.go
  // Go runs each combination once; repeating them explores more interleavings.
  const int rounds = scaled(200, 5);
  csp::run([=] {
    for (int round = 0; round < rounds; ++round) {
      send1(recv1);
      send2(recv1);
      send3(recv1);
      send1(recv2);
      send2(recv2);
      send3(recv2);
      send1(recv3);
      send2(recv3);
      send3(recv3);
    }
  });
}

// =============================================================================================
// golang/go test/chan/doubleselect.go: the situation in which two cases of a select could both
// end up running (codereview 180068); no value may arrive twice. Go sets GOMAXPROCS(2); here
// the fixture's worker count.

// sender sends a counter to one of four different channels. If two cases both end up running
// in the same iteration, the same value will be sent to two different channels.
void sender(int n, csp::sender<int> c1, csp::sender<int> c2, csp::sender<int> c3,
            csp::sender<int> c4) {
  for (int i = 0; i < n; i++) {
    csp::select(csp::on_send(c1, i), csp::on_send(c2, i), csp::on_send(c3, i), csp::on_send(c4, i));
  }
  // Go: defer close(c1) ... close(c4)
  c4.close();
  c3.close();
  c2.close();
  c1.close();
}

// mux receives the values from sender and forwards them onto another channel. It would be
// simpler to just have sender's four cases all be the same channel, but this doesn't actually
// trigger the bug.
void mux(csp::sender<int> out, csp::receiver<int> in, csp::sender<bool> done) {
  for (int v : in) out.send(v);
  done.send(true);
}

TEST_P(GoGoroutines, DoubleSelect) {  // test/chan/doubleselect.go
  const int iterations = scaled(100'000, 10);
  struct outcome {
    int received = 0;
    int duplicates = 0;
  };
  const outcome o = csp::run([=] {
    csp::channel<int> c1, c2, c3, c4;
    csp::channel<bool> done;
    csp::channel<int> cmux;
    csp::go(sender, iterations, csp::sender<int>(c1), csp::sender<int>(c2), csp::sender<int>(c3),
            csp::sender<int>(c4));
    csp::go(mux, csp::sender<int>(cmux), csp::receiver<int>(c1), csp::sender<bool>(done));
    csp::go(mux, csp::sender<int>(cmux), csp::receiver<int>(c2), csp::sender<bool>(done));
    csp::go(mux, csp::sender<int>(cmux), csp::receiver<int>(c3), csp::sender<bool>(done));
    csp::go(mux, csp::sender<int>(cmux), csp::receiver<int>(c4), csp::sender<bool>(done));
    csp::go([=] {
      (void)done.receive();
      (void)done.receive();
      (void)done.receive();
      (void)done.receive();
      cmux.close();
    });
    // recver gets a stream of values from the four muxes and checks for duplicates.
    outcome result;
    std::vector<char> seen(static_cast<std::size_t>(iterations), 0);
    for (int v : cmux) {
      if (v < 0 || v >= iterations) {
        ADD_FAILURE() << "value out of range: " << v;
        continue;
      }
      if (seen[static_cast<std::size_t>(v)]++ != 0 && ++result.duplicates <= 5) {
        ADD_FAILURE() << "got duplicate value: " << v;
      }
      ++result.received;
    }
    return result;
  });
  EXPECT_EQ(o.duplicates, 0);
  EXPECT_EQ(o.received, iterations);
}

// =============================================================================================
// golang/go src/runtime/chan_test.go TestSelectFairness: with 2 ready cases and 2 never-ready
// ones, each ready case is chosen about half the time (SEL-3). Go fails beyond 10 sigma.

TEST_P(GoGoroutines, SelectFairness) {  // src/runtime/chan_test.go TestSelectFairness
  constexpr int trials = 10000;
  struct counts {
    int cnt1 = 0, cnt2 = 0, other = 0;
  };
  const counts c = csp::run([] {
    csp::channel<std::uint8_t> c1(trials + 1), c2(trials + 1);
    for (int i = 0; i < trials + 1; i++) {
      c1.send(1);
      c2.send(2);
    }
    csp::channel<std::uint8_t> c3, c4, out, done;
    csp::wait_group wg;
    wg.go([=] {
      for (;;) {
        std::optional<std::uint8_t> b;
        csp::select(csp::on_receive(c3, b), csp::on_receive(c4, b), csp::on_receive(c1, b),
                    csp::on_receive(c2, b));
        if (csp::select(csp::on_send(out, b.value_or(0)), csp::on_receive(done)) == 1) return;
      }
    });
    counts result;
    for (int i = 0; i < trials; i++) {
      switch (*out.receive()) {
        case 1:
          result.cnt1++;
          break;
        case 2:
          result.cnt2++;
          break;
        default:
          result.other++;
      }
    }
    done.close();
    wg.wait();
    return result;
  });
  EXPECT_EQ(c.other, 0) << "unexpected value on channel";
  // If the select in the goroutine is fair, cnt1 and cnt2 should be about the same value.
  // See if we're more than 10 sigma away from the expected value.
  constexpr double mean = trials * 0.5;
  constexpr double stddev = 50.0;  // sqrt(trials * 0.5 * (1 - 0.5))
  EXPECT_LE(std::abs(c.cnt1 - mean), 10 * stddev)
      << "unfair select: in " << trials << " trials, results were " << c.cnt1 << ", " << c.cnt2;
}

}  // namespace
