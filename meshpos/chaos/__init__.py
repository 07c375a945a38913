"""``meshpos chaos``: the whole venue in network namespaces under random, reproducible faults.

Modules: ``netbed`` (namespaces, bridges, cable pulls, partitions, loss, rate limits), ``agent`` (an HTTP
client inside a namespace, over pipes), ``venue`` (topology and paired devices), ``procs`` (node and
console processes), ``schedule`` (the seeded fault plan), ``faults`` (carrying it out and healing),
``workload`` (the cashiers), ``reconcile`` (what every holder has vs. what was acknowledged), ``run``
(the phases) and ``command`` (arguments and entry point, wired by ``meshpos.cli``).
"""

from meshpos.chaos.command import add_chaos_arguments, run_chaos

__all__ = ["add_chaos_arguments", "run_chaos"]
