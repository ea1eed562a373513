"""A separate OS process that appends to a ledger and prints each index once it is acknowledged.

Used by the two-process and kill -9 tests: `python appender.py URL COUNT THREADS TAG [--race]`.
A COUNT of 0 appends until killed. With `--race` it opens the ledger, prints `ready` to stderr, waits for a
line on stdin (so two processes start appending together) and ends by printing `fallbacks N` to stderr:
how many of its one-trip batches found the head moved by the other process.
"""

from __future__ import annotations

import sys
import threading

from ledger import Event
from ledger.store import Ledger


def main() -> None:
    url, count, threads, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    race = sys.argv[5:] == ["--race"]
    ledger = Ledger.open(url, create=False)
    if race:
        sys.stderr.write("ready\n")
        sys.stderr.flush()
        sys.stdin.readline()
    out = threading.Lock()

    def work(worker: int) -> None:
        n = 0
        while count == 0 or n < count:
            index = ledger.append(Event(type="test.append", actor=f"{tag}:{worker}", payload={"n": n}))
            with out:
                sys.stdout.write(f"{index}\n")
                sys.stdout.flush()
            n += 1

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if race:
        sys.stderr.write(f"fallbacks {ledger.batch_counts()[1]}\n")
    ledger.close()


if __name__ == "__main__":
    main()
