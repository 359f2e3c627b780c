"""CPU threads of a worker process: as many as the cores it may use, and they wait asleep.

torch's CPU kernels (and bitsandbytes', which share torch's GNU OpenMP runtime) split an op
over a team of threads that meets at a barrier after every parallel region. By default a
thread that reaches the barrier first spins on its core. When other processes want the cores,
the spinning thread keeps the CPU from the one it is waiting for: the demo fine-tune ran 40x
slower beside one busy process (`python -m bench contention` measures it). A passive wait
policy puts waiting threads to sleep instead.

OpenMP reads its environment once, when its library loads on the first `import torch`, so the
worker gets it in the environment it is started with. This module never imports torch.
"""

import math
import os
from collections.abc import Mapping
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"


def cpus_usable(*, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # macOS has no affinity
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    return min(cores, quota) if quota else cores


def _cgroup_quota(cpu_max: Path) -> int | None:
    """A container's CPU quota in whole cores (2.5 cores allow 3 threads); None if unlimited."""
    try:
        quota, period = cpu_max.read_text().split()
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2 here, or a file unlike it
        return None


def threads_count(*, setting: int, cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The threads a worker uses: the setting where positive, else every usable core."""
    return setting if setting > 0 else cpus_usable(cpu_max=cpu_max)


def threads_env(*, setting: int, environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` for a worker process: its thread count, and threads that wait asleep."""
    threads = str(threads_count(setting=setting))
    # An operator's own wait policy stays; the thread count is WORKER_THREADS's to decide.
    return {
        "OMP_WAIT_POLICY": "PASSIVE",
        **environ,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
