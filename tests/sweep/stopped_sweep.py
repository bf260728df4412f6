"""``archsim sweep`` that stops at a known moment, for the kill and Ctrl-C tests.

    python stopped_sweep.py MODE SWEEP_ARGS...

Runs ``archsim sweep SWEEP_ARGS`` (with ``--workers 1``: batches run in this process) and,
after two batches are in the table, prints ``stopped`` on stdout and waits to be killed or
interrupted. Where it waits, by MODE:

* ``simulating`` — at the start of the third batch's first point (where Ctrl-C usually lands);
* ``torn-write`` — inside the third batch's write, which is left half done as a kill in the
  middle of it would leave it: a CSV gets the first half of that batch's first row, without
  its newline; a Parquet sweep gets half of the part file, in the temporary file that
  ``archsim.io.write_bytes_atomic`` would have renamed.

A test that waits for ``stopped`` therefore knows exactly what is on disk (8 whole rows with
``--batch-size 4``), however fast or slow the machine is.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time

from archsim.cli import main
from archsim.sweep import parquet_table, store, worker

STOP_AT = 3  # the batch (or the point, in batches of 4: the 9th) at which the sweep stops


def stop() -> None:
    print("stopped", flush=True)
    while True:
        time.sleep(60)  # until killed; Ctrl-C raises KeyboardInterrupt here


def stop_while_simulating() -> None:
    original = worker.run_point
    calls = 0

    def run_point(ctx, point):
        nonlocal calls
        calls += 1
        if calls == 4 * (STOP_AT - 1) + 1:
            stop()
        return original(ctx, point)

    worker.run_point = run_point


def stop_in_a_torn_write() -> None:
    csv_append = store.CsvStore.append
    write_atomic = parquet_table.write_bytes_atomic
    appends = parts = 0

    def append(self, rows):
        nonlocal appends
        appends += 1
        if appends < STOP_AT:
            return csv_append(self, rows)
        size = self.path.stat().st_size
        csv_append(self, rows)
        first_row = self.path.read_bytes()[size:].split(b"\n")[0]
        os.truncate(self.path, size + len(first_row) // 2)
        stop()

    def write_part(path, data):
        nonlocal parts
        if path.parent.name.endswith(".parts"):
            parts += 1
            if parts == STOP_AT:
                fd, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
                os.write(fd, data[: len(data) // 2])
                stop()
        write_atomic(path, data)

    store.CsvStore.append = append
    parquet_table.write_bytes_atomic = write_part


if __name__ == "__main__":
    # a shell starts background jobs with SIGINT ignored, and Python keeps it so: the Ctrl-C
    # test then waited out its timeout when the suite itself ran in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode, args = sys.argv[1], sys.argv[2:]
    {"simulating": stop_while_simulating, "torn-write": stop_in_a_torn_write}[mode]()
    sys.exit(main(["sweep", *args, "--workers", "1"]))
