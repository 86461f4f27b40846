// main.rs: Rust's standard library channels in bench/compare (see bench/compare/README.md).
//
//   compare_rust <workload> [max-messages [target-ms]]
//
// std::sync::mpsc::sync_channel(capacity) from plain threads (std::thread::scope). Since Rust
// 1.67 std's mpsc is crossbeam-channel's algorithm; an older rustc (Debian 12's is 1.63) has the
// old implementation, and run.sh says which one it built. std's Receiver has a single consumer,
// so mpmc uses std::sync::mpmc (the same crossbeam code, unstable): run.sh builds with
// `--cfg has_mpmc` and RUSTC_BOOTSTRAP=1 when the compiler has it, and mpmc is n/a otherwise.
// std has no select. Built with `rustc -O` alone: no cargo, no crates.
//
// Prints `RESULT <metric> rust <value> <unit>` lines, or `NA <metric> rust <reason>`; checks its
// own result and exits 1 with WRONG RESULT on a wrong one. The shapes and the sizing of a run
// are those of bench/compare/harness.hpp.
#![cfg_attr(has_mpmc, feature(mpmc_channel))]

use std::io::Write;
use std::process;
use std::sync::mpsc;
use std::time::Instant;

const PEER: &str = "rust";
// crossbeam-channel's benchmarks use 4 producers and 4 consumers (THREADS = 4).
const TASKS: i64 = 4;

fn result(metric: &str, value: f64, unit: &str) {
    println!("RESULT {} {} {} {}", metric, PEER, value, unit);
    std::io::stdout().flush().unwrap();
}

fn not_available(metric: &str, reason: &str) {
    println!("NA {} {} {}", metric, PEER, reason);
}

fn fail(message: &str) -> ! {
    eprintln!("WRONG RESULT: {}", message);
    process::exit(1);
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Seq,
    Spsc,
    Mpsc,
    Mpmc,
    SelectRx,
    SelectBoth,
}

// "seq" or "<shape>_cap<capacity>", as in harness.hpp.
fn parse(name: &str) -> Option<(Shape, usize)> {
    if name == "seq" {
        return Some((Shape::Seq, 0));
    }
    let cut = name.rfind("_cap")?;
    let capacity: usize = name[cut + 4..].parse().ok()?;
    let shape = match &name[..cut] {
        "spsc" => Shape::Spsc,
        "mpsc" => Shape::Mpsc,
        "mpmc" => Shape::Mpmc,
        "select_rx" => Shape::SelectRx,
        "select_both" => Shape::SelectBoth,
        _ => return None,
    };
    Some((shape, capacity))
}

fn expected_sum(messages: i64) -> i64 {
    messages * (messages - 1) / 2
}

fn check(messages: i64, count: i64, sum: i64) {
    if count != messages || sum != expected_sum(messages) {
        fail(&format!(
            "received {} messages summing to {}, expected {} summing to {}",
            count,
            sum,
            messages,
            expected_sum(messages)
        ));
    }
}

// seq, spsc and mpsc on std::sync::mpsc. Producer p sends p * share .. (p + 1) * share, so the
// values are 0 .. messages whatever the number of producers. Returns ns per message.
fn transfer(shape: Shape, capacity: usize, messages: i64) -> f64 {
    let capacity = if shape == Shape::Seq {
        messages as usize
    } else {
        capacity
    };
    let (tx, rx) = mpsc::sync_channel::<i64>(capacity);
    let start = Instant::now();
    let (count, sum, rx) = if shape == Shape::Seq {
        for i in 0..messages {
            tx.send(i).unwrap();
        }
        let mut sum = 0;
        for _ in 0..messages {
            sum += rx.recv().unwrap();
        }
        drop(tx);
        (messages, sum, rx)
    } else {
        let producers = if shape == Shape::Spsc { 1 } else { TASKS };
        let share = messages / producers;
        std::thread::scope(|scope| {
            for p in 0..producers {
                let tx = tx.clone();
                scope.spawn(move || {
                    for i in p * share..(p + 1) * share {
                        tx.send(i).unwrap();
                    }
                });
            }
            drop(tx);
            // The receiver moves to its thread and comes back for the final check.
            let consumer = scope.spawn(move || {
                let mut sum = 0;
                for _ in 0..messages {
                    sum += rx.recv().unwrap();
                }
                (sum, rx)
            });
            let (sum, rx) = consumer.join().unwrap();
            (messages, sum, rx)
        })
    };
    let ns = start.elapsed().as_nanos() as f64;
    check(messages, count, sum);
    // Every sender is gone: recv() fails only once nothing is left.
    if rx.recv().is_ok() {
        fail("a value was left in the channel");
    }
    ns / messages as f64
}

#[cfg(has_mpmc)]
fn transfer_mpmc(capacity: usize, messages: i64) -> Option<f64> {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::mpmc;
    let (tx, rx) = mpmc::sync_channel::<i64>(capacity);
    let share = messages / TASKS;
    let sum = AtomicI64::new(0);
    let count = AtomicI64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for p in 0..TASKS {
            let tx = tx.clone();
            scope.spawn(move || {
                for i in p * share..(p + 1) * share {
                    tx.send(i).unwrap();
                }
            });
        }
        for _ in 0..TASKS {
            let rx = rx.clone();
            let (sum, count) = (&sum, &count);
            scope.spawn(move || {
                let mut mine = 0;
                for _ in 0..share {
                    mine += rx.recv().unwrap();
                }
                sum.fetch_add(mine, Ordering::Relaxed);
                count.fetch_add(share, Ordering::Relaxed);
            });
        }
    });
    let ns = start.elapsed().as_nanos() as f64;
    check(
        messages,
        count.load(Ordering::Relaxed),
        sum.load(Ordering::Relaxed),
    );
    drop(tx);
    if rx.recv().is_ok() {
        fail("a value was left in the channel");
    }
    Some(ns / messages as f64)
}

#[cfg(not(has_mpmc))]
fn transfer_mpmc(_capacity: usize, _messages: i64) -> Option<f64> {
    None
}

// go test -bench's b.N, simplified, as harness.hpp's measure(): doubling warm-up runs from 1,000
// messages until one lasts 20 ms or reaches the maximum, then one run of about the target time.
fn measure(max_messages: i64, target_seconds: f64, run: &mut dyn FnMut(i64) -> f64) -> (f64, i64) {
    let round = |n: i64| n - n % TASKS;
    let floor = round(1000).min(max_messages);
    let mut messages = floor;
    let mut ns = run(messages);
    while ns * (messages as f64) < 20e6 && messages < max_messages {
        messages = (messages * 2).min(max_messages);
        ns = run(messages);
    }
    let wanted = target_seconds * 1e9 / ns;
    messages = if wanted >= max_messages as f64 {
        max_messages
    } else {
        floor.max(round(wanted as i64))
    };
    (run(messages), messages)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: compare_rust <workload> [max-messages [target-ms]]");
        process::exit(2);
    }
    let name = args[1].as_str();
    if name == "idle" {
        not_available(name, "no runtime");
        return;
    }
    let mut max_messages: i64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    max_messages -= max_messages % TASKS;
    let target_seconds = args
        .get(3)
        .and_then(|a| a.parse::<f64>().ok())
        .unwrap_or(250.0)
        / 1000.0;
    if max_messages < TASKS {
        fail("the message count must be at least 4");
    }
    let (shape, capacity) = match parse(name) {
        Some(parsed) => parsed,
        None => {
            eprintln!("unknown workload {}", name);
            process::exit(2);
        }
    };
    let (ns, messages) = match shape {
        Shape::SelectRx | Shape::SelectBoth => {
            not_available(name, "no select");
            return;
        }
        Shape::Mpmc => {
            // std::sync::mpmc is not in this rustc (see run.sh).
            if transfer_mpmc(capacity, TASKS).is_none() {
                not_available(name, "single consumer");
                return;
            }
            measure(max_messages, target_seconds, &mut |n| {
                transfer_mpmc(capacity, n).unwrap()
            })
        }
        _ => measure(max_messages, target_seconds, &mut |n| {
            transfer(shape, capacity, n)
        }),
    };
    println!("INFO {} {} measured {} messages", name, PEER, messages);
    result(name, ns, "ns/msg");
}
