"""The CPU a fixture's PyTorch float32 error was measured on (its error depends on the kernels PyTorch picks)."""
import torch


def cpu_kind():
    """The CPU kind whose kernels PyTorch (and oneDNN) run: torch's CPU capability, "AVX2" or "AVX512". The
    Swift tests name the machine they run on the same way (Tensor's CPUKind, from oneDNN's effective ISA)."""
    return torch.backends.cpu.get_cpu_capability()


def processor():
    """The processor model from /proc/cpuinfo, e.g. "AMD EPYC"."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def cpu_name():
    """The kind and the processor model, e.g. "AVX2 (AMD EPYC)"."""
    return f"{cpu_kind()} ({processor()})"
