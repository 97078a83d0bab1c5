"""Write checkpoints in the containers the released upstream files use.

- Lightning `.ckpt` (latent-diffusion VQModel, rotation_trick Table 3, enhancing-transformers ViTVQ): a dict with
  `epoch`, `global_step`, `pytorch-lightning_version`, `state_dict` (the LightningModule's state dict, so it holds
  the `loss.*` weights too), and for full (not weights-only) checkpoints `callbacks`, `optimizer_states`,
  `lr_schedulers`. PL 1.4 keys `callbacks` by the callback CLASS (a pickled global), PL >= 1.5 by a string.
- rotation_trick Table 1 `.pth` (src/train_utils/trainer.py): `{'args': Namespace, 'model': DDP state dict
  ('module.' prefix), 'epoch', 'optimizer': AdamW state dict, 'scheduler': the WarmupCosineFlatSchedule OBJECT
  (pickled with its optimizer, i.e. Parameters again), 'best_val_loss'}`.

The loss modules are not reproduced: a few tensors with the real key prefixes and shapes (LPIPS scaling layer,
first VGG conv, a `lin`, a discriminator conv + BatchNorm with int64 num_batches_tracked) stand in for them.
"""
import argparse
import math
import sys
import types
from collections import OrderedDict

import torch
import torch.nn as nn


# ---------------------------------------------------------------- fake loss modules (only key layout matters)

class _ScalingLayer(nn.Module):
    def __init__(self):
        super().__init__()
        # the real LPIPS constants
        self.register_buffer("shift", torch.tensor([-.030, -.088, -.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([.458, .448, .450])[None, :, None, None])


class _NetLin(nn.Module):
    def __init__(self, chn_in):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(chn_in, 1, 1, stride=1, padding=0, bias=False))


class _VGGSlice1(nn.Module):
    def __init__(self):
        super().__init__()
        self.slice1 = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(False))


class _LPIPS(nn.Module):
    def __init__(self, pip_lpips):
        super().__init__()
        self.scaling_layer = _ScalingLayer()
        self.net = _VGGSlice1()
        self.lin0 = _NetLin(64)
        if pip_lpips:
            # pip `lpips` also registers the same layers under `lins` -> aliased tensors in the state dict
            self.lins = nn.ModuleList([self.lin0])


class _NLayerDiscriminatorStub(nn.Module):
    """taming NLayerDiscriminator: main.0 conv(3->64, 4x4) + bias, main.3 BatchNorm2d(128) (main.2 omitted)."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.Identity(),
                                  nn.BatchNorm2d(128))


class TamingLossStub(nn.Module):
    """Key prefixes of taming VQLPIPSWithDiscriminator: loss.perceptual_loss.*, loss.discriminator.main.*"""

    def __init__(self):
        super().__init__()
        self.perceptual_loss = _LPIPS(pip_lpips=False)
        self.discriminator = _NLayerDiscriminatorStub()


class _StyleDiscStub(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(nn.Sequential(_EqualConv(128, 3, 1), _FusedBias(128)))
        self.final_linear = nn.Sequential(nn.Identity(), _EqualLinear(1, 512))


class _EqualConv(nn.Module):
    def __init__(self, out_c, in_c, k):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_c, in_c, k, k))


class _FusedBias(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))


class _EqualLinear(nn.Module):
    def __init__(self, out_d, in_d):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_d, in_d))
        self.bias = nn.Parameter(torch.zeros(out_d))


class EnhancingLossStub(nn.Module):
    """Key prefixes of enhancing-transformers VQLPIPSWithDiscriminator (pip lpips + StyleDiscriminator)."""

    def __init__(self):
        super().__init__()
        self.perceptual_loss = _LPIPS(pip_lpips=True)
        self.discriminator = _StyleDiscStub()


def randomize_(module, seed):
    """Deterministic non-trivial values for stub tensors (int buffers get a step count)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if name.endswith("scaling_layer.shift") or name.endswith("scaling_layer.scale"):
                continue
            if t.dtype.is_floating_point:
                t.copy_(torch.randn(t.shape, generator=g) * 0.05 + (1.0 if name.endswith("running_var") else 0.0))
            else:
                t.fill_(1234)
    return module


# ---------------------------------------------------------------- Lightning containers

class LightningHost(nn.Module):
    """Registers the model's children and the loss stub in upstream order so the state dict (incl. `_metadata`)
    looks like the LightningModule's. `order` lists child names, "loss" where the loss module sits."""

    def __init__(self, model, loss, order):
        super().__init__()
        for name in order:
            self.add_module(name, loss if name == "loss" else getattr(model, name))


def lightning_state_dict(model, loss, order):
    return LightningHost(model, loss, order).state_dict()


def _adam_state(params_and_ids, lr, betas, step, amsgrad=False, decoupled=False, weight_decay=0.0):
    """An Adam(W) state_dict as torch < 1.12 wrote it (int `step`), with state for the given (index, tensor)
    pairs only (keeps fixtures small; the loader just sets optimizer state aside)."""
    state = {}
    for i, p in params_and_ids:
        g = torch.Generator().manual_seed(1000 + i)
        state[i] = {"step": step, "exp_avg": torch.randn(p.shape, generator=g) * 1e-4,
                    "exp_avg_sq": torch.rand(p.shape, generator=g) * 1e-8}
    return state


def adam_state_dict(n_params, sample, lr, betas=(0.5, 0.9), step=1, weight_decay=0.0):
    return {"state": _adam_state(sample, lr, betas, step),
            "param_groups": [{"lr": lr, "betas": betas, "eps": 1e-08, "weight_decay": weight_decay,
                              "amsgrad": False, "params": list(range(n_params))}]}


def save_lightning_ckpt(path, state_dict, epoch, global_step, pl_version="1.4.2", optimizer_states=None,
                        monitor="val/rec_loss", best_score=None, dirpath="logs/checkpoints"):
    """optimizer_states=None -> a weights-only checkpoint (no callbacks / optimizer_states / lr_schedulers)."""
    ckpt = {"epoch": epoch, "global_step": global_step, "pytorch-lightning_version": pl_version,
            "state_dict": state_dict}
    if optimizer_states is not None:
        cb_state = {"monitor": monitor, "best_model_score": torch.tensor(best_score if best_score else 0.1234),
                    "best_model_path": f"{dirpath}/epoch={epoch:06d}.ckpt",
                    "current_score": torch.tensor(best_score if best_score else 0.1234), "dirpath": dirpath}
        from pytorch_lightning.callbacks import ModelCheckpoint
        if tuple(int(v) for v in pl_version.split(".")[:2]) < (1, 5):
            key = ModelCheckpoint      # PL 1.4: keyed by the class -> a GLOBAL as dict key in the pickle
        else:
            key = ("ModelCheckpoint{'monitor': '%s', 'mode': 'min', 'every_n_train_steps': 0, "
                   "'every_n_epochs': 1, 'train_time_interval': None, 'save_on_train_epoch_end': True}" % monitor)
        ckpt["callbacks"] = {key: cb_state}
        ckpt["optimizer_states"] = optimizer_states
        ckpt["lr_schedulers"] = []
    torch.save(ckpt, path)
    return ckpt


# ---------------------------------------------------------------- rotation_trick Table 1 container

def _schedulers_module():
    """Install a stand-in `src.train_utils.schedulers` module so the scheduler object pickles under the upstream
    class path (src.train_utils.schedulers.WarmupCosineFlatSchedule)."""
    name = "src.train_utils.schedulers"
    if name in sys.modules:
        return sys.modules[name]
    from torch.optim.lr_scheduler import LambdaLR
    for pkg in ("src", "src.train_utils"):
        sys.modules.setdefault(pkg, types.ModuleType(pkg))
    mod = types.ModuleType(name)

    class WarmupCosineFlatSchedule(LambdaLR):
        # same arithmetic as upstream: warmup, cosine decay to initial_lr / min_lr_constant, then flat
        def __init__(self, optimizer, initial_lr, warmup_iters, decay_iters, last_epoch=-1, min_lr_constant=2):
            self.initial_lr, self.warmup_iters = initial_lr, warmup_iters
            self.decay_iters, self.min_lr_constant = decay_iters, min_lr_constant
            super().__init__(optimizer, self.lr_lambda, last_epoch=last_epoch)

        def lr_lambda(self, step):
            if step < self.warmup_iters:
                return self.initial_lr * (step / self.warmup_iters)
            if step > self.decay_iters:
                return self.initial_lr / self.min_lr_constant
            ratio = (step - self.warmup_iters) / (self.decay_iters - self.warmup_iters)
            coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
            return self.initial_lr / self.min_lr_constant + coeff * (self.initial_lr - self.initial_lr / self.min_lr_constant)

        def get_lr(self):
            return [lmbda(self.last_epoch) for lmbda in self.lr_lambdas]

    WarmupCosineFlatSchedule.__module__ = name
    WarmupCosineFlatSchedule.__qualname__ = "WarmupCosineFlatSchedule"
    mod.WarmupCosineFlatSchedule = WarmupCosineFlatSchedule
    sys.modules[name] = mod
    return mod


def rt_args(codebook, f, **overrides):
    """argparse.Namespace with every field of rotation_trick's train_parser(), values as in src/scripts.sh."""
    a = dict(epoch=100, lr=1e-4, warmup_iters=3000, decay_iters=50000, weight_decay=1e-4, opt="adam", batch_size=32,
             n_accumulate=8, model="rot_vqvae", dropout=0.0, seed=0, f=f, codebook=codebook, commit_weight=1.0,
             scale_factor=1e6, dataset="imagenet", wandb=True, port=0, checkpoint="", gpu=[0, 1],
             save_dir="rot_vqvae", skip_validation=False, skip_logging=False, skip_training=False)
    a.update(overrides)
    return argparse.Namespace(**a)


class _DDPHost(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.module = model


def save_rt_checkpoint(path, model, args, epoch=20, optimizer_state_sample=2):
    """The dict rotation_trick's Train_Manager.epoch_loop saves. The scheduler is pickled as an object holding the
    AdamW optimizer, whose param_groups reference the model Parameters (the same storages as `model`)."""
    sched_mod = _schedulers_module()
    host = _DDPHost(model)
    params = list(host.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    # give a couple of parameters an optimizer state (the real file has it for all; kept small here)
    for p in params[:optimizer_state_sample]:
        opt.state[p] = {"step": torch.tensor(float(1000 * (epoch + 1))),
                        "exp_avg": torch.zeros_like(p).add_(1e-4), "exp_avg_sq": torch.zeros_like(p).add_(1e-8)}
    sched = sched_mod.WarmupCosineFlatSchedule(opt, initial_lr=args.lr, warmup_iters=args.warmup_iters,
                                               decay_iters=args.decay_iters, min_lr_constant=2)
    sched.last_epoch = 1000 * (epoch + 1)
    ckpt = {"args": args, "model": host.state_dict(), "epoch": epoch, "optimizer": opt.state_dict(),
            "scheduler": sched, "best_val_loss": 1e6}
    torch.save(ckpt, path)
    return ckpt
