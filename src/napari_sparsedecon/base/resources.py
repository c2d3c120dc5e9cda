"""What the machine has: the memory available now (the default budgets)."""

from __future__ import annotations


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or 4 GiB if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


def default_budget() -> int:
    """Half of the memory available now."""
    return available_memory() // 2


def process_rss() -> int:
    """Bytes this process holds resident now (Python, its libraries, its data), 0 if
    unknown."""
    try:
        with open("/proc/self/statm") as fh:
            import os

            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


#: Share of an explicit memory budget that the data may take after this process's own
#: resident memory; the rest absorbs allocator slack and buffers the plan leaves out.
BUDGET_MARGIN = 0.95
#: The least room for data that a run is started with.
MIN_DATA_BUDGET = 16 * 2**20


def data_budget(memory_budget=None) -> int | None:
    """The part of ``memory_budget`` (bytes, for the whole process) left for data: less
    what the process already holds (the interpreter, numpy, scipy and the readers, about
    60-80 MiB), so that the measured peak of a run stays within the budget. ``None``
    (the default budget, half the available memory) stays ``None``."""
    if not memory_budget:
        return None
    budget = int(memory_budget)
    held = process_rss()
    room = int(BUDGET_MARGIN * budget) - held
    if room < MIN_DATA_BUDGET:
        raise MemoryError(
            f"a memory budget of {budget / 2**20:.0f} MiB leaves {max(room, 0) / 2**20:.0f} "
            f"MiB for the data after the {held / 2**20:.0f} MiB this program holds itself "
            f"(Python and its libraries); give a budget of at least "
            f"{(held + MIN_DATA_BUDGET) / BUDGET_MARGIN / 2**20 + 1:.0f}MiB")
    return room
