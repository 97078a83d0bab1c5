"""The CPU a fixture's PyTorch float32 error was measured on (its error depends on the kernels PyTorch picks)."""
import torch


def cpu_name():
    """PyTorch's CPU capability and the processor model, e.g. "AVX2 (AMD EPYC)"."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{torch.backends.cpu.get_cpu_capability()} ({model})"
