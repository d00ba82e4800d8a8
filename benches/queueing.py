"""What queueing theory predicts for the latency of a CPU-bound signer: an M/D/c queue (Poisson
arrivals, every request the same service time, c servers, first come first served), simulated
over many requests. Used by docs/benchmarks.md to compare the measured tail with the tail that
is inherent to the load.

    python3 queueing.py SERVICE_MS SERVERS LOAD [LOAD ...]     (LOAD: utilisation, 0.25 0.5 0.7)

Prints, per load, p50, p99 and p99.9 of the time in the system (waiting + service), in ms.
"""

import heapq
import random
import sys


def simulate(service_ms, servers, load, requests=400_000, seed=1):
    rng = random.Random(seed)
    rate = load * servers / service_ms  # arrivals per ms
    free_at = [0.0] * servers  # when each server is next free (a heap)
    now = 0.0
    times = []
    for _ in range(requests):
        now += rng.expovariate(rate)
        start = max(now, heapq.heappop(free_at))
        done = start + service_ms
        heapq.heappush(free_at, done)
        times.append(done - now)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return pick(0.5), pick(0.99), pick(0.999)


def main():
    service_ms, servers = float(sys.argv[1]), int(sys.argv[2])
    print(f"M/D/{servers}, service time {service_ms} ms (FIFO):")
    print("| load | p50 ms | p99 ms | p99.9 ms |\n|---|---:|---:|---:|")
    for load in map(float, sys.argv[3:]):
        p50, p99, p999 = simulate(service_ms, servers, load)
        print(f"| {load:.0%} | {p50:.2f} | {p99:.2f} | {p999:.2f} |")


if __name__ == "__main__":
    main()
