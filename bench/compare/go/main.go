// main.go: the Go side of bench/compare (see bench/compare/README.md).
//
//	compare_go <workload> [work-iterations]
//
// Shapes mirror bench/compare/csp/compare.cpp. GOMAXPROCS is Go's default (the number of
// cores). Each workload prints `RESULT <metric> go <value> <unit>` lines, checks its own result
// and exits 1 on a wrong one.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const peer = "go"

func result(metric string, value float64, unit string) {
	fmt.Printf("RESULT %s %s %.6g %s\n", metric, peer, value, unit)
}

func fail(msg string) {
	fmt.Fprintf(os.Stderr, "WRONG RESULT: %s\n", msg)
	os.Exit(1)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }
func nsSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) }

// statusBytes reads a field of /proc/self/status (VmRSS: now) in bytes.
func statusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, field+":") {
			fields := strings.Fields(line[len(field)+1:])
			kb, _ := strconv.ParseInt(fields[0], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

// peakRSS is the process's peak resident set (getrusage ru_maxrss, KiB on Linux) in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

// work: ~20 µs of CPU work once calibrated; xorshift64, identical in every peer.
func work(seed, iterations uint64) uint64 {
	x := seed
	for i := uint64(0); i < iterations; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// --- 1. pingpong ---
func pingpong() {
	const n = 200000
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	var sum int64
	start := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		sum += <-pong
	}
	ns := nsSince(start)
	close(ping)
	if sum != n*(n+1)/2 {
		fail(fmt.Sprint("pingpong sum ", sum))
	}
	result("pingpong", ns/n, "ns/roundtrip")
}

// --- 2. sieve (test/chan/sieve1.go) ---
func generate(ch chan<- int) {
	for i := 2; ; i++ {
		ch <- i
	}
}

func filter(in <-chan int, out chan<- int, prime int) {
	for i := range in {
		if i%prime != 0 {
			out <- i
		}
	}
}

func sieveChain(primes chan<- int) {
	ch := make(chan int)
	go generate(ch)
	for {
		prime := <-ch
		primes <- prime
		ch1 := make(chan int)
		go filter(ch, ch1, prime)
		ch = ch1
	}
}

func sieve() {
	const n = 2000
	start := time.Now()
	primes := make(chan int)
	go sieveChain(primes)
	prime := 0
	for i := 0; i < n; i++ {
		prime = <-primes
	}
	ms := msSince(start)
	if prime != 17389 {
		fail(fmt.Sprint("sieve: 2000th prime ", prime))
	}
	result("sieve", ms, "ms")
}

// --- 3. skynet ---
func skynetNode(c chan<- int64, num, size, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	for i := int64(0); i < div; i++ {
		go skynetNode(rc, num+i*(size/div), size/div, div)
	}
	var sum int64
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynet() {
	start := time.Now()
	c := make(chan int64)
	go skynetNode(c, 0, 1000000, 10)
	sum := <-c
	ms := msSince(start)
	if sum != 499999500000 {
		fail(fmt.Sprint("skynet sum ", sum))
	}
	result("skynet", ms, "ms")
}

// --- 4. spawn ---
func spawn() {
	const n = 100000
	ch := make(chan int64, n)
	baseline := statusBytes("VmRSS")
	start := time.Now()
	for i := int64(0); i < n; i++ {
		go func(i int64) { ch <- i }(i)
	}
	var sum int64
	for i := 0; i < n; i++ {
		sum += <-ch
	}
	ms := msSince(start)
	peak := peakRSS()
	if sum != n*(n-1)/2 {
		fail(fmt.Sprint("spawn sum ", sum))
	}
	result("spawn", ms, "ms")
	result("spawn_mem", float64(peak-baseline)/n, "B/goroutine")
}

// --- 5. workerpool ---
func workerpool(iterations uint64) {
	const jobsCount = 20000
	const workers = 2
	start := time.Now()
	var expected uint64
	for j := 0; j < jobsCount; j++ {
		expected += work(uint64(j+1), iterations)
	}
	sequentialMs := msSince(start)

	start = time.Now()
	jobs := make(chan int, 100)
	results := make(chan uint64, 100)
	for w := 0; w < workers; w++ {
		go func() {
			for j := range jobs {
				results <- work(uint64(j+1), iterations)
			}
		}()
	}
	go func() {
		for j := 0; j < jobsCount; j++ {
			jobs <- j
		}
		close(jobs)
	}()
	var sum uint64
	for j := 0; j < jobsCount; j++ {
		sum += <-results
	}
	parallelMs := msSince(start)
	if sum != expected {
		fail("workerpool checksum")
	}
	result("workerpool", sequentialMs/(workers*parallelMs), "efficiency")
	result("workerpool_ms", parallelMs, "ms")
	fmt.Printf("INFO workerpool go sequential %.2f ms, parallel %.2f ms, %.2f us/job\n",
		sequentialMs, parallelMs, sequentialMs*1000/jobsCount)

	// The machine's ceiling right now: the same jobs split in halves over 2 goroutines, no
	// channels (GOMAXPROCS threads run them).
	start = time.Now()
	var halves [workers]uint64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			for j := w; j < jobsCount; j += workers {
				halves[w] += work(uint64(j+1), iterations)
			}
			wg.Done()
		}(w)
	}
	wg.Wait()
	ceilingMs := msSince(start)
	if halves[0]+halves[1] != expected {
		fail("workerpool ceiling checksum")
	}
	result("workerpool_ceiling", sequentialMs/(workers*ceilingMs), "efficiency")
}

func calibrate() {
	const probe = 1000000
	var perIteration []float64
	var sink uint64
	for t := 0; t < 9; t++ {
		start := time.Now()
		sink += work(uint64(t+1), probe)
		perIteration = append(perIteration, nsSince(start)/probe)
	}
	sort.Float64s(perIteration)
	if sink == 1 {
		fmt.Fprintln(os.Stderr, "(unlikely)")
	}
	fmt.Println(uint64(20000 / perIteration[4]))
}

// --- 6. parked ---
func parked() {
	const n = 1000000
	gate := make(chan int)
	var wg sync.WaitGroup
	var waiting, released int64
	baseline := statusBytes("VmRSS")
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&waiting, 1)
			if _, ok := <-gate; !ok {
				atomic.AddInt64(&released, 1)
			}
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&waiting) < n {
		time.Sleep(time.Millisecond)
	}
	parkMs := msSince(start)
	releaseStart := time.Now()
	close(gate)
	wg.Wait()
	releaseMs := msSince(releaseStart)
	ms := msSince(start)
	peak := peakRSS()
	if released != n {
		fail(fmt.Sprint("parked: released ", released))
	}
	result("parked", ms, "ms")
	result("parked_mem", float64(peak-baseline)/n, "B/goroutine")
	fmt.Printf("INFO parked go spawn+park %.1f ms, release %.1f ms, peak RSS %.1f MiB\n",
		parkMs, releaseMs, float64(peak)/1048576)
}

// --- 7. select benchmarks (runtime/chan_test.go), RunParallel with GOMAXPROCS goroutines ---
func parallelNsPerOp(n int64, body func(iterations int64)) float64 {
	procs := int64(runtime.GOMAXPROCS(0))
	each := n / procs
	var wg sync.WaitGroup
	start := time.Now()
	for p := int64(0); p < procs; p++ {
		wg.Add(1)
		go func() {
			body(each)
			wg.Done()
		}()
	}
	wg.Wait()
	return nsSince(start) / float64(each*procs)
}

func selectUncontended() {
	const n = 2000000
	ns := parallelNsPerOp(n, func(iterations int64) {
		myc1 := make(chan int, 1)
		myc2 := make(chan int, 1)
		myc1 <- 0
		for i := int64(0); i < iterations; i++ {
			select {
			case <-myc1:
				myc2 <- 0
			case <-myc2:
				myc1 <- 0
			}
		}
	})
	result("SelectUncontended", ns, "ns/op")
}

func selectSyncContended() {
	const n = 200000
	myc1 := make(chan int)
	myc2 := make(chan int)
	myc3 := make(chan int)
	done := make(chan int)
	var received int64
	ns := parallelNsPerOp(n, func(iterations int64) {
		go func() {
			for {
				select {
				case myc1 <- 0:
				case myc2 <- 0:
				case myc3 <- 0:
				case <-done:
					return
				}
			}
		}()
		for i := int64(0); i < iterations; i++ {
			select {
			case <-myc1:
			case <-myc2:
			case <-myc3:
			}
		}
		atomic.AddInt64(&received, iterations)
	})
	close(done)
	if received != n {
		fail("SelectSyncContended count")
	}
	result("SelectSyncContended", ns, "ns/op")
}

func selectAsyncContended() {
	const n = 1000000
	procs := runtime.GOMAXPROCS(0)
	myc1 := make(chan int, procs)
	myc2 := make(chan int, procs)
	ns := parallelNsPerOp(n, func(iterations int64) {
		myc1 <- 0
		for i := int64(0); i < iterations; i++ {
			select {
			case <-myc1:
				myc2 <- 0
			case <-myc2:
				myc1 <- 0
			}
		}
	})
	if len(myc1)+len(myc2) != procs {
		fail("SelectAsyncContended: tokens lost")
	}
	result("SelectAsyncContended", ns, "ns/op")
}

func selectNonblock() {
	const n = 10000000
	myc1 := make(chan int)
	myc2 := make(chan int)
	myc3 := make(chan int, 1)
	myc4 := make(chan int, 1)
	var defaults int64
	ns := parallelNsPerOp(n, func(iterations int64) {
		var mine int64
		for i := int64(0); i < iterations; i++ {
			select {
			case <-myc1:
			default:
				mine++
			}
			select {
			case myc2 <- 0:
			default:
				mine++
			}
			select {
			case <-myc3:
			default:
				mine++
			}
			select {
			case myc4 <- 0:
			default:
				mine++
			}
		}
		atomic.AddInt64(&defaults, mine)
	})
	if defaults != 4*n-1 {
		fail(fmt.Sprint("SelectNonblock: defaults ", defaults))
	}
	result("SelectNonblock", ns, "ns/op")
}

// selectNonblockReady is not in chan_test.go: the target "a non-blocking select on a ready
// channel". Each iteration is two selects with a default that both proceed: a send into an
// empty cap-1 channel, then a receive of that value; per goroutine channels. Per select.
func selectNonblockReady() {
	const n = 10000000
	var taken int64
	ns := parallelNsPerOp(n, func(iterations int64) {
		myc := make(chan int, 1)
		var mine int64
		for i := int64(0); i < iterations; i++ {
			select {
			case myc <- 1:
				mine++
			default:
			}
			select {
			case v := <-myc:
				if v == 1 {
					mine++
				}
			default:
			}
		}
		atomic.AddInt64(&taken, mine)
	})
	if taken != 2*n {
		fail(fmt.Sprint("SelectNonblockReady: ", taken))
	}
	result("SelectNonblockReady", ns/2, "ns/select")
}

// --- fanin ---
func fanin() {
	const perProducer = 500000
	a, b := make(chan int64), make(chan int64)
	start := time.Now()
	for _, ch := range []chan int64{a, b} {
		go func(ch chan int64) {
			for i := int64(1); i <= perProducer; i++ {
				ch <- i
			}
		}(ch)
	}
	var sum int64
	for k := 0; k < 2*perProducer; k++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		}
	}
	ns := nsSince(start)
	if sum != perProducer*(perProducer+1) {
		fail(fmt.Sprint("fanin sum ", sum))
	}
	result("fanin", ns/(2*perProducer), "ns/msg")
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compare_go <workload> [work-iterations]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pingpong":
		pingpong()
	case "sieve":
		sieve()
	case "skynet":
		skynet()
	case "spawn":
		spawn()
	case "workerpool":
		iterations := uint64(2000)
		if len(os.Args) > 2 {
			iterations, _ = strconv.ParseUint(os.Args[2], 10, 64)
		}
		workerpool(iterations)
	case "calibrate":
		calibrate()
	case "parked":
		parked()
	case "SelectUncontended":
		selectUncontended()
	case "SelectSyncContended":
		selectSyncContended()
	case "SelectAsyncContended":
		selectAsyncContended()
	case "SelectNonblock":
		selectNonblock()
	case "SelectNonblockReady":
		selectNonblockReady()
	case "fanin":
		fanin()
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
}
