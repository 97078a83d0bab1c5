"""latent-diffusion `VQModel` (first stage) with taming's `VectorQuantizer2`, inference path.

Re-implemented from spec/architectures.md §2. The attribute names below produce exactly the upstream state-dict
keys (`encoder.down.{i}.block.{j}.norm1.weight`, `decoder.up.{i}.attn.{j}.q.bias`, `quantize.embedding.weight`,
`quant_conv.weight`, ...). The same Encoder/Decoder are taming-transformers' (which lacks only `attn_type`), so
rt_vqvae.py reuses them.

Preset "ldm" (taming `ImagePaths` / ldm data loaders, see presets.py):
    RGB uint8 -> resize shorter side to 256 (bilinear) -> center crop 256x256 -> x/127.5 - 1   (input in [-1, 1])
Output: raw decoder output, nominally [-1, 1]; 8-bit pixels = floor(clamp((v + 1) / 2, 0, 1) * 255).

Encode: latents = quant_conv(encoder(x)) [N, embed_dim, h, w] (what the quantizer receives); codes [N, h, w] int64
(squared-Euclidean argmin in the expanded form, first index on ties). Decode: codebook rows -> post_quant_conv ->
decoder.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def nonlinearity(x):
    # swish, written as upstream (x * sigmoid(x)) rather than F.silu so rounding matches the original
    return x * torch.sigmoid(x)


def Normalize(in_channels):
    # 32 groups is hard-coded upstream: channel counts must be multiples of 32
    return nn.GroupNorm(num_groups=32, num_channels=in_channels, eps=1e-6, affine=True)


class Upsample(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=2, padding=0)

    def forward(self, x):
        # asymmetric zero padding: one column on the right, one row at the bottom
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class ResnetBlock(nn.Module):
    # temb_channels is 0 in the autoencoders, so there is no temb_proj; dropout is 0 (and eval) anyway
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = Normalize(out_channels)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        h = self.conv1(nonlinearity(self.norm1(x)))
        h = self.conv2(self.dropout(nonlinearity(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 conv projections, scale C^-0.5, softmax over keys."""

    def __init__(self, in_channels):
        super().__init__()
        self.norm = Normalize(in_channels)
        self.q = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.k = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.v = nn.Conv2d(in_channels, in_channels, kernel_size=1)
        self.proj_out = nn.Conv2d(in_channels, in_channels, kernel_size=1)

    def forward(self, x):
        h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)          # [b, hw, c]
        k = k.reshape(b, c, h * w)                            # [b, c, hw]
        w_ = torch.bmm(q, k) * (int(c) ** (-0.5))             # [b, hw_q, hw_k]
        w_ = torch.softmax(w_, dim=2)
        v = v.reshape(b, c, h * w)
        h_ = torch.bmm(v, w_.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(h_)


def make_attn(in_channels, attn_type="vanilla"):
    if attn_type == "vanilla":
        return AttnBlock(in_channels)
    if attn_type == "none":
        return nn.Identity()    # no keys: "vq-f4-noattn"
    raise ValueError(f"attn_type {attn_type!r} not supported by the reference (LinAttnBlock is unused by VQ models)")


class Encoder(nn.Module):
    def __init__(self, *, ch, ch_mult, num_res_blocks, attn_resolutions, in_channels, resolution, z_channels,
                 double_z=False, attn_type="vanilla", **ignore):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.conv_in = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        curr_res = resolution
        in_ch_mult = (1,) + tuple(ch_mult)
        self.down = nn.ModuleList()
        for i_level in range(self.num_resolutions):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_ch_mult[i_level], ch * ch_mult[i_level]
            for _ in range(num_res_blocks):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                # attention placement is decided by the CONFIGURED resolution, not the runtime input size
                if curr_res in attn_resolutions:
                    attn.append(make_attn(block_in, attn_type))
            down = nn.Module()
            down.block, down.attn = block, attn
            if i_level != self.num_resolutions - 1:
                down.downsample = Downsample(block_in)
                curr_res //= 2
            self.down.append(down)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = make_attn(block_in, attn_type)      # present even when attn_resolutions is empty
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels, kernel_size=3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for i_level in range(self.num_resolutions):
            for i_block in range(self.num_res_blocks):
                h = self.down[i_level].block[i_block](h)
                if len(self.down[i_level].attn) > 0:
                    h = self.down[i_level].attn[i_block](h)
            if i_level != self.num_resolutions - 1:
                h = self.down[i_level].downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(nonlinearity(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions, resolution, z_channels,
                 attn_type="vanilla", tanh_out=False, **ignore):
        super().__init__()
        self.num_resolutions = len(ch_mult)
        self.num_res_blocks = num_res_blocks
        self.tanh_out = tanh_out
        block_in = ch * ch_mult[-1]
        curr_res = resolution // 2 ** (self.num_resolutions - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = make_attn(block_in, attn_type)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        self.up = nn.ModuleList()
        for i_level in reversed(range(self.num_resolutions)):
            block, attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i_level]
            for _ in range(num_res_blocks + 1):
                block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
                if curr_res in attn_resolutions:
                    attn.append(make_attn(block_in, attn_type))
            up = nn.Module()
            up.block, up.attn = block, attn
            if i_level != 0:
                up.upsample = Upsample(block_in)
                curr_res *= 2
            self.up.insert(0, up)   # up.0 is the highest resolution and runs last
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, kernel_size=3, stride=1, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i_level in reversed(range(self.num_resolutions)):
            for i_block in range(self.num_res_blocks + 1):
                h = self.up[i_level].block[i_block](h)
                if len(self.up[i_level].attn) > 0:
                    h = self.up[i_level].attn[i_block](h)
            if i_level != 0:
                h = self.up[i_level].upsample(h)
        h = self.conv_out(nonlinearity(self.norm_out(h)))
        return torch.tanh(h) if self.tanh_out else h


class VectorQuantizer2(nn.Module):
    """taming VectorQuantizer2, eval path. remap: optional int64 array of used indices (buffer `used`).

    With remap, unknown indices map to `unknown_index` ("extra" -> len(used)); upstream's default "random" is
    non-deterministic and therefore refused here.
    """

    def __init__(self, n_e, e_dim, remap=None, unknown_index="extra", sane_index_shape=False):
        super().__init__()
        self.n_e, self.e_dim = n_e, e_dim
        self.embedding = nn.Embedding(n_e, e_dim)
        self.sane_index_shape = sane_index_shape
        self.remap = remap
        if remap is not None:
            self.register_buffer("used", torch.as_tensor(np.asarray(remap, dtype=np.int64)))
            self.re_embed = self.used.shape[0]
            if unknown_index == "random":
                raise ValueError("unknown_index='random' is non-deterministic")
            self.unknown_index = self.re_embed if unknown_index == "extra" else int(unknown_index)
            if unknown_index == "extra":
                self.re_embed += 1
        else:
            self.re_embed = n_e

    def distances(self, z_flat):
        # expanded squared Euclidean distance, exactly the upstream formula (matters for near-ties)
        w = self.embedding.weight
        return (torch.sum(z_flat ** 2, dim=1, keepdim=True) + torch.sum(w ** 2, dim=1)
                - 2 * torch.einsum("bd,dn->bn", z_flat, w.t()))

    def forward(self, z):
        """Returns (z_q, indices) like upstream's (z_q, loss, (None, None, indices)) without the loss."""
        b, c, h, w = z.shape
        z = z.permute(0, 2, 3, 1).contiguous()
        idx = torch.argmin(self.distances(z.view(-1, self.e_dim)), dim=1)
        z_q = self.embedding(idx).view(z.shape)
        z_q = z + (z_q - z).detach()      # straight-through, also applied in eval (adds rounding)
        z_q = z_q.permute(0, 3, 1, 2).contiguous()
        if self.remap is not None:
            idx = self.remap_to_used(idx.reshape(b, -1)).reshape(-1, 1)
        if self.sane_index_shape:
            idx = idx.reshape(b, h, w)
        return z_q, idx

    def remap_to_used(self, inds):
        match = (inds[:, :, None] == self.used[None, None, :].to(inds)).long()
        new = match.argmax(-1)
        new[match.sum(2) < 1] = self.unknown_index
        return new

    def unmap_to_all(self, inds):
        inds = inds.clone()
        if self.re_embed > self.used.shape[0]:
            inds[inds >= self.used.shape[0]] = 0
        return self.used.to(inds)[inds]

    def get_codebook_entry(self, indices, shape):
        """indices: any shape holding B*H*W entries; shape = (B, H, W, C). Returns [B, C, H, W]."""
        if self.remap is not None:
            indices = self.unmap_to_all(indices.reshape(shape[0], -1)).reshape(-1)
        z_q = self.embedding(indices.reshape(-1))
        return z_q.view(shape).permute(0, 3, 1, 2).contiguous()


class VQModel(nn.Module):
    """latent-diffusion VQModel without the Lightning/loss parts (the `loss.*` keys are added by the container
    writer). ddconfig is the YAML `ddconfig` dict."""

    family = "ldm-vqgan"

    def __init__(self, ddconfig, n_embed, embed_dim, remap=None, sane_index_shape=False):
        super().__init__()
        self.ddconfig, self.n_embed, self.embed_dim = dict(ddconfig), n_embed, embed_dim
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quantize = VectorQuantizer2(n_embed, embed_dim, remap=remap, sane_index_shape=sane_index_shape)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def encode_to_prequant(self, x):
        return self.quant_conv(self.encoder(x))

    def encode(self, x):
        latents = self.encode_to_prequant(x)
        _, idx = self.quantize(latents)
        b, _, h, w = latents.shape
        return latents, idx.reshape(b, h, w)

    def codes_from_latents(self, latents):
        b, _, h, w = latents.shape
        return self.quantize(latents)[1].reshape(b, h, w)

    def decode(self, quant):
        return self.decoder(self.post_quant_conv(quant))

    def decode_codes(self, codes):
        b, h, w = codes.shape
        quant = self.quantize.get_codebook_entry(codes.reshape(-1), (b, h, w, self.embed_dim))
        return self.decode(quant)

    def forward(self, x):
        """Upstream eval forward: decode(encode(x)) through the straight-through z_q (differs from decode_codes
        only by rounding)."""
        z_q, _ = self.quantize(self.encode_to_prequant(x))
        return self.decode(z_q)

    def code_scores(self, latents):
        """Per-position distances [N*h*w, K] (lower is better) for code margins."""
        return self.quantize.distances(latents.permute(0, 2, 3, 1).reshape(-1, self.embed_dim)), "min"


# Shipped configurations (ddconfig, n_embed, embed_dim). All: ch 128, num_res_blocks 2, resolution 256.
def _dd(ch_mult, attn_resolutions, z, attn_type="vanilla", ch=128, num_res_blocks=2, resolution=256):
    d = dict(double_z=False, z_channels=z, resolution=resolution, in_channels=3, out_ch=3, ch=ch,
             ch_mult=list(ch_mult), num_res_blocks=num_res_blocks, attn_resolutions=list(attn_resolutions),
             dropout=0.0)
    if attn_type != "vanilla":
        d["attn_type"] = attn_type
    return d


CONFIGS = {
    # rotation_trick Table 3 (exp_weights_and_configs/table_3/*/config.yaml; also has `rot_trick: true`)
    "table3-32x32x4": dict(ddconfig=_dd((1, 2, 2, 4), [32], 4), n_embed=16384, embed_dim=4),
    "table3-64x64x3": dict(ddconfig=_dd((1, 2, 4), [], 3), n_embed=8192, embed_dim=3),
    # latent-diffusion models/first_stage_models/*/config.yaml
    "vq-f4": dict(ddconfig=_dd((1, 2, 4), [], 3), n_embed=8192, embed_dim=3),
    "vq-f4-noattn": dict(ddconfig=_dd((1, 2, 4), [], 3, attn_type="none"), n_embed=8192, embed_dim=3),
    "vq-f8": dict(ddconfig=_dd((1, 2, 2, 4), [32], 4), n_embed=16384, embed_dim=4),
    "vq-f8-n256": dict(ddconfig=_dd((1, 2, 2, 4), [32], 4), n_embed=256, embed_dim=4),
    "vq-f16": dict(ddconfig=_dd((1, 1, 2, 2, 4), [16], 8), n_embed=16384, embed_dim=8),
}


def build(name_or_cfg):
    cfg = CONFIGS[name_or_cfg] if isinstance(name_or_cfg, str) else name_or_cfg
    return VQModel(cfg["ddconfig"], cfg["n_embed"], cfg["embed_dim"])


def config_yaml(cfg, lossconfig=None, rot_trick=None, base_learning_rate=4.5e-06, data=None):
    """The latent-diffusion `config.yaml` dict for a VQModel configuration."""
    params = {}
    if rot_trick is not None:
        params["rot_trick"] = rot_trick
    params.update(embed_dim=cfg["embed_dim"], n_embed=cfg["n_embed"], monitor="val/rec_loss",
                  ddconfig=dict(cfg["ddconfig"]))
    params["lossconfig"] = lossconfig or {
        "target": "taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator",
        "params": {"disc_conditional": False, "disc_in_channels": 3, "disc_start": 0, "disc_weight": 0.75,
                   "codebook_weight": 1.0}}
    out = {"model": {"base_learning_rate": base_learning_rate, "target": "ldm.models.autoencoder.VQModel",
                     "params": params}}
    if data is not None:
        out["data"] = data
    return out
