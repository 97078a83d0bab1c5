"""Classes that loader fixtures pickle by reference (developer-only; see Fixtures/loader/README.md).

torch.load(weights_only=False) must import these to rebuild the fixtures, so tools/make_fixtures.py and
tools/diff_inspect.py import this module (tools/ on sys.path) and call `install()`, which registers the fake module
`src.train_utils.schedulers` that the rotation_trick training code pickled its scheduler from.
"""
import sys
import types

import torch
from torch.optim.lr_scheduler import LambdaLR


class TinyChild(torch.nn.Module):
    """A submodule with one parameter and one buffer (whole-module legacy save, spec L7)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        self.register_buffer("scale", torch.tensor([3.0]))


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.child = TinyChild()
        self.bias = torch.nn.Parameter(torch.tensor([0.25, -0.75]))
        self.note = "tiny"


class MyDict(dict):
    """A dict subclass: pickles as NEWOBJ + SETITEMS on the instance + BUILD of its __dict__ (spec P10)."""


class MyList(list):
    """A list subclass: pickles as NEWOBJ + APPENDS on the instance + BUILD of its __dict__ (spec P10)."""


class WarmupCosineFlatSchedule(LambdaLR):
    """Shape-alike of rotation_trick's scheduler (src/train_utils/schedulers.py): a LambdaLR subclass whose
    lr_lambda is a bound method, so pickling the scheduler pickles `getattr(scheduler, 'lr_lambda')`."""

    def __init__(self, optimizer, initial_lr, warmup_iters, decay_iters, last_epoch=-1, min_lr_constant=2):
        self.initial_lr = initial_lr
        self.warmup_iters = warmup_iters
        self.decay_iters = decay_iters
        self.min_lr_constant = min_lr_constant
        super().__init__(optimizer, self.lr_lambda, last_epoch=last_epoch)

    def lr_lambda(self, step):
        if step < self.warmup_iters:
            return self.initial_lr * (step / self.warmup_iters)
        return self.initial_lr / self.min_lr_constant


SCHEDULER_MODULE = "src.train_utils.schedulers"
WarmupCosineFlatSchedule.__module__ = SCHEDULER_MODULE


def install():
    """Register the fake training-code modules so pickle can name (and torch.load can find) their classes."""
    for name in ("src", "src.train_utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    mod = sys.modules.get(SCHEDULER_MODULE) or types.ModuleType(SCHEDULER_MODULE)
    mod.WarmupCosineFlatSchedule = WarmupCosineFlatSchedule
    sys.modules[SCHEDULER_MODULE] = mod
