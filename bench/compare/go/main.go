// main.go: the Go side of bench/compare (see bench/compare/README.md).
//
//	compare_go <workload> [work-iterations | max-messages [target-ms]]
//
// Shapes mirror bench/compare/csp/compare.cpp. GOMAXPROCS is Go's default (the number of
// cores). Each workload prints `RESULT <metric> go <value> <unit>` lines, checks its own result
// and exits 1 on a wrong one.
package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
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

// Set during a workload's warm-up run, whose results are not reported.
var warmingUp bool

func result(metric string, value float64, unit string) {
	if warmingUp {
		return
	}
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
	// Warm-up: both goroutines have run and settled on their threads before the timer starts.
	for i := int64(0); i < n/20; i++ {
		ping <- i
		if <-pong != i+1 {
			fail("pingpong warm-up")
		}
	}
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
// The measured run is sieve1.go's: its generator never stops, and it ends with its chain
// blocked. The warm-up's generator stops at the 2,000th prime instead, so that its chain closes
// and exits before the measured run starts. Left blocked, it would not be idle: each of its
// filters still holds out for one more number to pass on, which is the work of another 2,000
// primes through the chain (about as much as a whole run), done while the measured run runs.
func generate(ch chan<- int, last int) {
	for i := 2; ; i++ {
		ch <- i
		if i == last {
			break
		}
	}
	close(ch)
}

func filter(in <-chan int, out chan<- int, prime int) {
	for i := range in {
		if i%prime != 0 {
			out <- i
		}
	}
	close(out)
}

func sieveChain(primes chan<- int, last int) {
	ch := make(chan int)
	go generate(ch, last)
	for {
		prime, ok := <-ch
		if !ok {
			close(primes)
			return
		}
		primes <- prime
		ch1 := make(chan int)
		go filter(ch, ch1, prime)
		ch = ch1
	}
}

func sieve() {
	const n = 2000
	const nthPrime = 17389
	last := math.MaxInt
	if warmingUp {
		last = nthPrime
	}
	start := time.Now()
	primes := make(chan int)
	go sieveChain(primes, last)
	prime := 0
	for i := 0; i < n; i++ {
		prime = <-primes
	}
	ms := msSince(start)
	if prime != nthPrime {
		fail(fmt.Sprint("sieve: 2000th prime ", prime))
	}
	if warmingUp {
		for range primes { // until the chain has closed
		}
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

// skynet_live: the most goroutines alive at once during skynet, sampled every 50 µs (compare.cpp
// has the why). Not a timing row.
func skynetLive() {
	var done atomic.Bool
	peak := 0
	sampled := make(chan struct{})
	go func() {
		for !done.Load() {
			if n := runtime.NumGoroutine(); n > peak {
				peak = n
			}
			time.Sleep(50 * time.Microsecond)
		}
		close(sampled)
	}()
	c := make(chan int64)
	go skynetNode(c, 0, 1000000, 10)
	if sum := <-c; sum != 499999500000 {
		fail(fmt.Sprint("skynet sum ", sum))
	}
	done.Store(true)
	<-sampled
	result("skynet_live", float64(peak-1), "goroutines") // less the sampler
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

// --- 5b. pipeline (see ../csp/compare.cpp) ---
func pipeline(iterations uint64, capacity int) {
	const items = 10000
	const stages = 2
	start := time.Now()
	var expected uint64
	for i := 0; i < items; i++ {
		expected += work(work(uint64(i+1), iterations), iterations)
	}
	sequentialMs := msSince(start)

	start = time.Now()
	middle := make(chan uint64, capacity)
	total := make(chan uint64, 1)
	go func() {
		for i := 0; i < items; i++ {
			middle <- work(uint64(i+1), iterations)
		}
		close(middle)
	}()
	go func() {
		var sum uint64
		for value := range middle {
			sum += work(value, iterations)
		}
		total <- sum
	}()
	sum := <-total
	parallelMs := msSince(start)
	if sum != expected {
		fail("pipeline checksum")
	}
	result("pipeline", sequentialMs/(stages*parallelMs), "efficiency")
	result("pipeline_ms", parallelMs, "ms")
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

// --- channel workloads (crossbeam-channel's benchmarks; shapes of ../harness.hpp) ---

// crossbeam-channel's benchmarks use 4 producers and 4 consumers (THREADS = 4).
const tasks = 4

// parseChannelWorkload reads "seq" or "<shape>_cap<capacity>", as harness.hpp does.
func parseChannelWorkload(name string) (shape string, capacity int, ok bool) {
	if name == "seq" {
		return "seq", 0, true
	}
	cut := strings.LastIndex(name, "_cap")
	if cut < 0 {
		return "", 0, false
	}
	capacity, err := strconv.Atoi(name[cut+4:])
	if err != nil || capacity < 0 {
		return "", 0, false
	}
	switch shape = name[:cut]; shape {
	case "spsc", "mpsc", "mpmc", "select_rx", "select_both":
		return shape, capacity, true
	}
	return "", 0, false
}

func expectedSum(messages int64) int64 { return messages * (messages - 1) / 2 }

func checkTransfer(messages, count, sum int64) {
	if count != messages || sum != expectedSum(messages) {
		fail(fmt.Sprintf("received %d messages summing to %d, expected %d summing to %d",
			count, sum, messages, expectedSum(messages)))
	}
}

// transfer runs one shape over fresh channels and returns ns per message. Producer p sends
// p*share .. (p+1)*share-1, so the values are 0 .. messages-1 whatever the number of producers.
func transfer(shape string, capacity int, messages int64) float64 {
	if shape == "seq" {
		capacity = int(messages)
	}
	// The select shapes use one channel per producer, the others one channel.
	channels := make([]chan int64, 1)
	if shape == "select_rx" || shape == "select_both" {
		channels = make([]chan int64, tasks)
	}
	for i := range channels {
		channels[i] = make(chan int64, capacity)
	}
	ch := channels[0]
	producers, consumers := int64(tasks), int64(1)
	switch shape {
	case "spsc":
		producers = 1
	case "mpmc", "select_both":
		consumers = tasks
	}
	share, receiveShare := messages/producers, messages/consumers
	var sum, count int64
	var wg sync.WaitGroup

	start := time.Now()
	if shape == "seq" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < messages; i++ {
				ch <- i
			}
			var mine int64
			for i := int64(0); i < messages; i++ {
				mine += <-ch
			}
			atomic.AddInt64(&sum, mine)
			atomic.AddInt64(&count, messages)
		}()
	} else {
		for p := int64(0); p < producers; p++ {
			wg.Add(1)
			go func(p int64) {
				defer wg.Done()
				for i := p * share; i < (p+1)*share; i++ {
					switch shape {
					case "select_rx":
						channels[p] <- i
					case "select_both":
						select {
						case channels[0] <- i:
						case channels[1] <- i:
						case channels[2] <- i:
						case channels[3] <- i:
						}
					default:
						ch <- i
					}
				}
			}(p)
		}
		for c := int64(0); c < consumers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine int64
				for i := int64(0); i < receiveShare; i++ {
					if shape == "select_rx" || shape == "select_both" {
						select {
						case v := <-channels[0]:
							mine += v
						case v := <-channels[1]:
							mine += v
						case v := <-channels[2]:
							mine += v
						case v := <-channels[3]:
							mine += v
						}
					} else {
						mine += <-ch
					}
				}
				atomic.AddInt64(&sum, mine)
				atomic.AddInt64(&count, receiveShare)
			}()
		}
	}
	wg.Wait()
	ns := nsSince(start)

	checkTransfer(messages, count, sum)
	for _, c := range channels {
		close(c)
		if _, ok := <-c; ok {
			fail("a value was left in a channel")
		}
	}
	return ns / float64(messages)
}

// measure is go test -bench's b.N, simplified, as harness.hpp's measure(): doubling warm-up
// runs from 1,000 messages until one lasts 20 ms or reaches the maximum, then one run of about
// the target time.
func measure(maxMessages int64, targetSeconds float64, run func(int64) float64) (float64, int64) {
	round := func(n int64) int64 { return n - n%tasks }
	floor := round(1000)
	if floor > maxMessages {
		floor = maxMessages
	}
	messages := floor
	ns := run(messages)
	for ns*float64(messages) < 20e6 && messages < maxMessages {
		messages *= 2
		if messages > maxMessages {
			messages = maxMessages
		}
		ns = run(messages)
	}
	wanted := targetSeconds * 1e9 / ns
	if wanted >= float64(maxMessages) {
		messages = maxMessages
	} else if messages = round(int64(wanted)); messages < floor {
		messages = floor
	}
	return run(messages), messages
}

func channelWorkload(name, shape string, capacity int, args []string) {
	maxMessages := int64(5000000)
	targetSeconds := 0.25
	if len(args) > 0 {
		maxMessages, _ = strconv.ParseInt(args[0], 10, 64)
	}
	if len(args) > 1 {
		ms, _ := strconv.ParseFloat(args[1], 64)
		targetSeconds = ms / 1000
	}
	maxMessages -= maxMessages % tasks
	if maxMessages < tasks {
		fail("the message count must be at least 4")
	}
	fmt.Printf("INFO %s go GOMAXPROCS %d\n", name, runtime.GOMAXPROCS(0))
	ns, messages := measure(maxMessages, targetSeconds, func(n int64) float64 {
		return transfer(shape, capacity, n)
	})
	fmt.Printf("INFO %s go measured %d messages\n", name, messages)
	result(name, ns, "ns/msg")
}

// --- idle: the CPU an idle runtime burns ---

// idle starts the runtime's threads with a short ping-pong, then leaves one goroutine blocked
// on a channel while main sleeps, and measures the process's CPU time over one second.
func idle() {
	never := make(chan int64)
	parked := make(chan struct{})
	go func() {
		<-never
		close(parked)
	}()
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	for i := int64(0); i < 10000; i++ {
		ping <- i
		if <-pong != i {
			fail("idle warm-up ping-pong")
		}
	}
	close(ping)
	// Spinning threads get 100 ms to give up before the measured second.
	time.Sleep(100 * time.Millisecond)
	cpu := cpuSeconds()
	start := time.Now()
	time.Sleep(time.Second)
	wall := time.Since(start).Seconds()
	used := cpuSeconds() - cpu
	close(never)
	<-parked
	fmt.Printf("INFO idle go GOMAXPROCS %d, %.2f ms CPU in %.3f s\n", runtime.GOMAXPROCS(0),
		used*1000, wall)
	result("idle", 100*used/wall, "%core")
}

// cpuSeconds is the CPU time (user + system, every thread) this process has used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// --- cancel: one context's cancellation reaching 10,000 blocked goroutines ---
// Shape of cancel_wakes in ../csp/compare.cpp: the time from cancel until the last goroutine has
// left its select on ctx.Done(), per goroutine, median of 15 rounds.
func cancelWakes() {
	const n = 10000
	const rounds = 15
	perGoroutine := make([]float64, 0, rounds)
	for round := 0; round < rounds; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		never := make(chan int)
		release := make(chan int)
		allAwake := make(chan int, 1)
		var started, awake int64
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				atomic.AddInt64(&started, 1)
				select {
				case <-never:
					fail("cancel: a value from a channel nobody sends on")
				case <-ctx.Done():
				}
				if atomic.AddInt64(&awake, 1) == n {
					allAwake <- 1
				}
				<-release
			}()
		}
		for atomic.LoadInt64(&started) < n {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
		start := time.Now()
		cancel()
		<-allAwake
		perGoroutine = append(perGoroutine, nsSince(start)/n)
		close(release)
		wg.Wait()
	}
	sort.Float64s(perGoroutine)
	result("cancel", perGoroutine[rounds/2], "ns/goroutine")
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

// Every workload runs once unmeasured first, then once measured, as the C++ programs do —
// except the channel workloads, which warm up inside, idle, the worker pool (its sequential
// pass warms up), and the one-shot workloads whose figures include peak RSS (spawn, skynet,
// parked).
func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compare_go <workload> [work-iterations]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pingpong", "sieve", "SelectUncontended", "SelectSyncContended",
		"SelectAsyncContended", "SelectNonblock", "SelectNonblockReady", "fanin", "cancel":
		if os.Getenv("CMP_WARMUP") == "0" { // as in the C++ programs: no warm-up run
			break
		}
		warmingUp = true
		runWorkload()
		warmingUp = false
	}
	runWorkload()
}

func runWorkload() {
	switch os.Args[1] {
	case "pingpong":
		pingpong()
	case "sieve":
		sieve()
	case "skynet":
		skynet()
	case "skynet_live":
		skynetLive()
	case "spawn":
		spawn()
	case "workerpool":
		iterations := uint64(2000)
		if len(os.Args) > 2 {
			iterations, _ = strconv.ParseUint(os.Args[2], 10, 64)
		}
		workerpool(iterations)
	case "pipeline":
		iterations := uint64(2000)
		if len(os.Args) > 2 {
			iterations, _ = strconv.ParseUint(os.Args[2], 10, 64)
		}
		capacity := 1
		if len(os.Args) > 3 {
			capacity, _ = strconv.Atoi(os.Args[3])
		}
		pipeline(iterations, capacity)
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
	case "cancel":
		cancelWakes()
	case "idle":
		idle()
	default:
		shape, capacity, ok := parseChannelWorkload(os.Args[1])
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
			os.Exit(2)
		}
		channelWorkload(os.Args[1], shape, capacity, os.Args[2:])
	}
}
