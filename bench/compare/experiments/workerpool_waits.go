// workerpool_waits.go: workerpool_waits.cpp in Go (see there). Run: go run workerpool_waits.go ITERATIONS
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// main.go's job, the same loop (a file run alone cannot import package main).
func work(seed, iterations uint64) uint64 {
	x := seed
	for i := uint64(0); i < iterations; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

type tally struct {
	operations, waits int
	waitedUs          float64
}

func (t *tally) time(operation func()) {
	start := time.Now()
	operation()
	us := float64(time.Since(start).Nanoseconds()) / 1000
	t.operations++
	if us > 2 {
		t.waits++
		t.waitedUs += us
	}
}

func (t *tally) print(party string) {
	fmt.Printf("%s ops %d waits %d (%.1f ms)  ", party, t.operations, t.waits, t.waitedUs/1000)
}

func main() {
	iterations := uint64(10361)
	if len(os.Args) > 1 {
		iterations, _ = strconv.ParseUint(os.Args[1], 10, 64)
	}
	const jobsCount, workers = 20000, 2
	var consumer, producer tally
	var receives, sends [workers]tally
	start := time.Now()
	jobs := make(chan int, 100)
	results := make(chan uint64, 100)
	var done sync.WaitGroup
	done.Add(workers + 1)
	for w := 0; w < workers; w++ {
		go func(w int) {
			for {
				var job int
				var ok bool
				receives[w].time(func() { job, ok = <-jobs })
				if !ok {
					break
				}
				result := work(uint64(job+1), iterations)
				sends[w].time(func() { results <- result })
			}
			done.Done()
		}(w)
	}
	go func() {
		for j := 0; j < jobsCount; j++ {
			producer.time(func() { jobs <- j })
		}
		close(jobs)
		done.Done()
	}()
	for j := 0; j < jobsCount; j++ {
		consumer.time(func() { <-results })
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	done.Wait()
	fmt.Printf("parallel %.1f ms | ", ms)
	consumer.print("consumer")
	producer.print("producer")
	for w := 0; w < workers; w++ {
		fmt.Printf("worker %d: ", w)
		receives[w].print("receive")
		sends[w].print("send")
	}
	fmt.Println()
}
