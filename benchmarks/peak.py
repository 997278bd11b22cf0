"""Peak resident memory of the running process, as every benchmark here prints it.

``getrusage(RUSAGE_SELF).ru_maxrss`` is not this process's own figure when it was started by another:
Linux carries the high-water mark over from the parent through ``subprocess`` (the fork and the exec),
so a stage run in a child of a parent that had read a large file reported the parent's peak (the province
benchmark's 10M "driver" figure: 2,330 MiB for both engines, the parent having counted the rows of the
2.2 GB province CSV through a memory map). ``VmHWM`` in ``/proc/self/status`` belongs to the process's
own address space, which the exec makes afresh.
"""

from __future__ import annotations

import resource
from pathlib import Path


def own_peak_mib() -> float:
    """This process's own peak resident memory (VmHWM) in MiB; ``ru_maxrss`` where /proc is not there."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")),
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def children_peak_mib() -> float:
    """The largest peak of the finished children waited for (each at least what this process held when it
    started them: the carried-over high-water mark above)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
