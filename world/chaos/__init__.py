"""Agora's chaos harness: real server processes under kill -9, fuzzing, floods, stalls, a full disk, soaks.

One module per scenario (kill9, fuzz, flood, stall, disk, soak), each with an options dataclass
and `async run(opts, work_dir) -> report.Outcome`; `process` starts and samples servers,
`observer` measures from a separate process, `ledger` proves acknowledged chat survived.
"""
