"""CPU threads: as many compute threads as physical cores, and a word when the machine is busier.

Convolutions on a CPU run one OpenMP thread per core. More threads than cores (hyper-threads,
a container that sees the host's CPUs, several processes of a run on one machine) make the
threads wait for each other at every barrier of every operator: the engine has measured steps up
to 25x slower under such contention. So unless the user chose a number (``OMP_NUM_THREADS``, or
a program that lowered ``torch.set_num_threads`` already, as the tests and ``ganzoo bench`` do),
a CPU run uses one thread per physical core available to it, divided between the processes of a
``torchrun`` on this machine; and when other work already keeps those cores busy (the load
average) and it runs several threads, the run says so: its speed and timings then mean little
(OMP_NUM_THREADS=1 avoids the barriers).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def available_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-thread siblings counted once),
    no more than a cgroup CPU quota allows."""
    cpus = available_cpus()
    cores: set[tuple[str, str]] = set()
    try:
        processor, fields = None, {}
        for line in [*Path("/proc/cpuinfo").read_text().splitlines(), ""]:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "processor":
                processor, fields = int(value), {}
            elif key in ("physical id", "core id"):
                fields[key] = value
            elif not line.strip() and processor in cpus:
                cores.add((fields.get("physical id", "0"), fields.get("core id", str(processor))))
    except (OSError, ValueError):
        cores = set()
    count = len(cores) or len(cpus)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def configure_cpu_threads(local_processes: int = 1) -> list[str]:
    """Set torch's intra-op threads to this process's share of the physical cores unless the user
    chose a number; returns messages for the run's log (oversubscription)."""
    cores = physical_cores()
    share = max(1, cores // max(1, local_processes))
    if "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > share:
        torch.set_num_threads(share)
    threads = torch.get_num_threads()
    notes = []
    try:
        others = os.getloadavg()[0]
    except OSError:
        others = 0.0
    if threads * local_processes > cores:
        notes.append(f"{threads} CPU threads x {local_processes} process(es) on {cores} physical core(s): threads "
                     "will wait for each other; set OMP_NUM_THREADS to at most "
                     f"{share}")
    elif threads > 1 and others + threads * local_processes > cores + 0.5:  # one thread never waits at a barrier
        notes.append(f"the CPU is oversubscribed: load average {others:.1f} from other work on {cores} physical "
                     f"core(s) before this run's {threads * local_processes} thread(s); steps will be slower and "
                     "timings noisy (fewer parallel jobs, or OMP_NUM_THREADS=1, reduce the contention)")
    return notes
