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


def cpu_errors(worst, layouts=("contiguous", "channels_last")):
    """A tolerances.by_cpu entry: PyTorch's float32 errors `worst` (the larger over `layouts`) and where they were
    measured."""
    return dict(worst, processor=processor(), layouts=list(layouts), torch=torch.__version__)


def tolerances(recon_npy_maxabs, worst, factor=4):
    """The `tolerances` of a model fixture's case.json: `factor` times PyTorch's own float32-vs-float64 error on the
    kind of CPU the test runs on, recorded per kind (this machine's now: `worst`, the larger of the contiguous and
    channels_last runs). The scheme ConformanceTests reads (tools/make_model_fixtures.py writes it too)."""
    return {
        "factor": factor,
        "rule": "vqrt's max |error| against latents64.npy / recon64.npy <= factor x PyTorch's own float32 error "
                "by_cpu[the kind of CPU the test runs on]; no entry for that kind: the test fails",
        "recon_npy_f32_vs_f64_maxabs": recon_npy_maxabs,
        "codes": "must equal codes.npy wherever code_margin >= 1e-5",
        "by_cpu": {cpu_kind(): cpu_errors(worst)},
    }
