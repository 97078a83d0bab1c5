"""enhancing-transformers `ViTVQ` (thuanz123/enhancing-transformers, HEAD semantics), inference path.

Spec: architectures.md §1. Pre-norm transformer (LayerNorm eps 1e-5), attention with bias-free `to_qkv`
(inner_dim = heads * dim_head, dim_head default 64), softmax over keys, `to_out` Linear only when
not (heads == 1 and dim_head == dim); MLP Linear -> tanh -> Linear; final LayerNorm `transformer.norm`.
The 2-d sin-cos positional embedding is a frozen Parameter in the state dict (`encoder.en_pos_embedding`,
`decoder.de_pos_embedding`, [1, T, dim]); its first half of channels encodes the COLUMN, the second the ROW.
Decoder: + pos-emb, transformer, tokens -> [B, dim, gh, gw], ConvTranspose2d(dim, 3, k=p, s=p). No output activation.
Quantizer: l2-normalised latents AND codebook (F.normalize, eps 1e-12) -> squared distance in the expanded form ->
argmin; the decoder receives the normalised code vector.

Encode: latents = pre_quant(encoder(x)) [N, T, embed_dim] (un-normalised, what the quantizer receives);
codes [N, gh, gw] (tokens row-major; upstream's encode_codes returns [N, T]).
Decode: post_quant(normalize(embedding[codes])) -> decoder.

Preset "vit": shorter side -> 256, center crop 256 (author's snippet), ToTensor -> [0, 1] (no Normalize).
Output: raw, ~[0,1]; 8-bit = floor(clamp(v, 0, 1) * 255).
Checkpoint: Lightning `.ckpt`, `state_dict` with `loss.*` first (ViTVQ registers `loss` before `encoder`).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos_pos_embed(dim, gh, gw):
    """[gh*gw, dim] float32: token t = i*gw + j (i row, j column); computed in float64 as upstream."""
    assert dim % 4 == 0
    quarter = dim // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / quarter)
    i, j = np.meshgrid(np.arange(gh, dtype=np.float64), np.arange(gw, dtype=np.float64), indexing="ij")
    col = np.outer(j.reshape(-1), omega)
    row = np.outer(i.reshape(-1), omega)
    emb = np.concatenate([np.sin(col), np.cos(col), np.sin(row), np.cos(row)], axis=1)
    return emb.astype(np.float32)


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, dim))

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim) if not (heads == 1 and dim_head == dim) else nn.Identity()

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))    # b h n d
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1)                     # head-major concat
        return self.to_out(out)


class Transformer(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, mlp_dim):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([PreNorm(dim, Attention(dim, heads, dim_head)),
                                                    PreNorm(dim, FeedForward(dim, mlp_dim))]) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class _ToPatches(nn.Module):
    def forward(self, x):
        return x.flatten(2).transpose(1, 2)        # 'b c h w -> b (h w) c'


class _ToImage(nn.Module):
    def __init__(self, gh):
        super().__init__()
        self.gh = gh

    def forward(self, x):
        b, n, c = x.shape
        return x.transpose(1, 2).reshape(b, c, self.gh, n // self.gh)


class ViTEncoder(nn.Module):
    def __init__(self, image_size, patch_size, dim, depth, heads, mlp_dim, channels=3, dim_head=64):
        super().__init__()
        g = image_size // patch_size
        self.to_patch_embedding = nn.Sequential(nn.Conv2d(channels, dim, kernel_size=patch_size, stride=patch_size),
                                                _ToPatches())
        self.en_pos_embedding = nn.Parameter(torch.from_numpy(sincos_pos_embed(dim, g, g))[None], requires_grad=False)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim)

    def forward(self, img):
        return self.transformer(self.to_patch_embedding(img) + self.en_pos_embedding)


class ViTDecoder(nn.Module):
    def __init__(self, image_size, patch_size, dim, depth, heads, mlp_dim, channels=3, dim_head=64):
        super().__init__()
        g = image_size // patch_size
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim)
        self.de_pos_embedding = nn.Parameter(torch.from_numpy(sincos_pos_embed(dim, g, g))[None], requires_grad=False)
        self.to_pixel = nn.Sequential(_ToImage(g), nn.ConvTranspose2d(dim, channels, kernel_size=patch_size,
                                                                      stride=patch_size))

    def forward(self, token):
        return self.to_pixel(self.transformer(token + self.de_pos_embedding))


class VectorQuantizer(nn.Module):
    def __init__(self, embed_dim, n_embed):
        super().__init__()
        self.embed_dim, self.n_embed = embed_dim, n_embed
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.normal_()

    @staticmethod
    def norm(x):
        return F.normalize(x, dim=-1)

    def distances(self, z_flat):
        zn, en = self.norm(z_flat), self.norm(self.embedding.weight)
        return (torch.sum(zn ** 2, dim=1, keepdim=True) + torch.sum(en ** 2, dim=1)
                - 2 * torch.einsum("b d, n d -> b n", zn, en))

    def forward(self, z):
        idx = torch.argmin(self.distances(z.reshape(-1, self.embed_dim)), dim=1).view(*z.shape[:-1])
        z_q = self.norm(self.embedding(idx))
        return z + (z_q - z).detach(), idx          # straight-through as BaseQuantizer.forward


class ViTVQ(nn.Module):
    family = "vit-vqgan"

    def __init__(self, image_size, patch_size, encoder, decoder, quantizer):
        super().__init__()
        self.image_size, self.patch_size = image_size, patch_size
        self.grid = image_size // patch_size
        self.cfg = dict(image_size=image_size, patch_size=patch_size, encoder=dict(encoder), decoder=dict(decoder),
                        quantizer=dict(quantizer))
        self.encoder = ViTEncoder(image_size, patch_size, **encoder)
        self.decoder = ViTDecoder(image_size, patch_size, **decoder)
        self.quantizer = VectorQuantizer(quantizer["embed_dim"], quantizer["n_embed"])
        self.pre_quant = nn.Linear(encoder["dim"], quantizer["embed_dim"])
        self.post_quant = nn.Linear(quantizer["embed_dim"], decoder["dim"])

    def encode_to_prequant(self, x):
        return self.pre_quant(self.encoder(x))

    def encode(self, x):
        latents = self.encode_to_prequant(x)
        return latents, self.codes_from_latents(latents)

    def codes_from_latents(self, latents):
        _, idx = self.quantizer(latents)
        return idx.reshape(latents.shape[0], self.grid, self.grid)

    def decode(self, quant):
        return self.decoder(self.post_quant(quant))

    def decode_codes(self, codes):
        quant = self.quantizer.norm(self.quantizer.embedding(codes.reshape(codes.shape[0], -1)))
        return self.decode(quant)

    def forward(self, x):
        quant, _ = self.quantizer(self.encode_to_prequant(x))
        return self.decode(quant)

    def code_scores(self, latents):
        return self.quantizer.distances(latents.reshape(-1, latents.shape[-1])), "min"


def _vit(dim, depth, heads, mlp_dim, **kw):
    return dict(dim=dim, depth=depth, heads=heads, mlp_dim=mlp_dim, **kw)


CONFIGS = {
    "small": dict(image_size=256, patch_size=8, encoder=_vit(512, 8, 8, 2048), decoder=_vit(512, 8, 8, 2048),
                  quantizer=dict(embed_dim=32, n_embed=8192)),
    "base": dict(image_size=256, patch_size=8, encoder=_vit(768, 12, 12, 3072), decoder=_vit(768, 12, 12, 3072),
                 quantizer=dict(embed_dim=32, n_embed=8192)),
    "large": dict(image_size=256, patch_size=8, encoder=_vit(512, 8, 8, 2048), decoder=_vit(1280, 32, 16, 5120),
                  quantizer=dict(embed_dim=32, n_embed=8192)),
}


def build(name_or_cfg):
    cfg = CONFIGS[name_or_cfg] if isinstance(name_or_cfg, str) else name_or_cfg
    return ViTVQ(**cfg)


def config_yaml(cfg, batch_size=8, root="data/ilsvrc2012"):
    """The enhancing-transformers configs/*.yaml dict for a configuration."""
    return {
        "model": {"target": "enhancing.modules.stage1.vitvqgan.ViTVQ", "params": {
            "image_key": "image", "image_size": cfg["image_size"], "patch_size": cfg["patch_size"],
            "encoder": dict(cfg["encoder"]), "decoder": dict(cfg["decoder"]), "quantizer": dict(cfg["quantizer"]),
            "loss": {"target": "enhancing.losses.vqperceptual.VQLPIPSWithDiscriminator",
                     "params": {"loglaplace_weight": 0.0, "loggaussian_weight": 1.0, "perceptual_weight": 0.1,
                                "adversarial_weight": 0.1}}}},
        "dataset": {"target": "enhancing.dataloader.DataModuleFromConfig", "params": {
            "batch_size": batch_size, "num_workers": 4,
            "train": {"target": "enhancing.dataloader.imagenet.ImageNetTrain",
                      "params": {"root": root, "resolution": cfg["image_size"]}},
            "validation": {"target": "enhancing.dataloader.imagenet.ImageNetValidation",
                           "params": {"root": root, "resolution": cfg["image_size"]}}}},
    }
