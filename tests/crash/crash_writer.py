"""A register that sells as fast as it can, for the kill -9 test (started with sys.executable).

Usage: crash_writer.py DB DOCUMENT TASKS. Prints ``ready`` once the store is open and the document loaded,
then one line ``<receipt id> <register> <n>`` per sale, only after ``append`` returned (durable).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pycrdt

from meshpos.bench.workload import UpdateLog, add_receipt
from meshpos.store import SqliteStore


async def main(path: str, document: str, tasks: int) -> None:
    store = await SqliteStore.open(path, compact_rows=200)
    doc: pycrdt.Doc[Any] = pycrdt.Doc()  # a fresh client id each run, as a restarted node would
    loaded = await store.load(document)
    if loaded is not None:
        doc.apply_update(loaded)
    log = UpdateLog(doc)
    print("ready", flush=True)

    async def register(k: int) -> None:
        name = f"{os.getpid()}-{k}"
        n = 0
        while True:
            n += 1
            receipt = add_receipt(doc, n, name)
            await store.append([(document, u) for u in log.take()], {f"seq/{name}": str(n)})
            print(receipt, name, n, flush=True)

    await asyncio.gather(*(register(k) for k in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
