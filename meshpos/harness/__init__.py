"""The harness the demo, the chaos run, the benchmarks and the tests share: setting up a venue
(:mod:`.venue`), node and console processes (:mod:`.procs`), the internet switch (:mod:`.internet`)
and the one wait with a deadline (:mod:`.wait`). The client for a node's local API is
:mod:`meshpos.localapi`, below the tools, because the CLI uses it too. The tool packages (demo, chaos,
bench) import this and none of each other.
"""
