"""Resident-memory readings for the Python side of the benchmark (Linux /proc), as jina3_bench takes them."""


def _status_mib(key):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def resident_mib():
    return _status_mib("VmRSS")


def peak_resident_mib():
    return _status_mib("VmHWM")


def reset_peak_resident():
    """Resets VmHWM to the current RSS so the next peak is one workload's own; False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False
