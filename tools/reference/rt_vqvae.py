"""rotation_trick Table 1 `VQVAE` (cfifty/rotation_trick src/models/vq_vae.py), inference path.

Encoder/Decoder: taming-transformers' (the file imports diffusers' and then taming's under the same names; the
second import wins), which has the key layout of ldm_vqgan.Encoder/Decoder. Quantizer: the repo's vendored copy of
lucidrains `VectorQuantize` (src/local_vector_quantize_pytorch, ~v1.14.x) built as
`VectorQuantize(dim=embed_dim, codebook_size=n_embed, accept_image_fmap=True, use_cosine_sim=cosine, decay=0.8,
commitment_weight=1.0, threshold_ema_dead_code=0)`: dim == codebook_dim, so its project_in/out are Identity and
its keys are only `vq._codebook.{initted [1], cluster_size [1,K], embed_avg [1,K,D], embed [1,K,D]}`.

Configurations (src/models/model_utils.py, `args.f`, `args.codebook`):
    f=8: ch 128, ch_mult (1,1,2,2,4), 2 res blocks, attention at 16 (last level) + mid, z 256 -> 16x16 latents
         pre_quant_proj = Sequential(Linear(256,32)[, LayerNorm(32) if cosine]), post_quant_proj = Linear(32,256),
         1024 codes of dim 32.  (The repo calls this f=8 although 256 -> 16 is a factor 16.)
    f=4: ch 128, ch_mult (1,2,4), 2 res blocks, no attention resolutions (mid attention only), z 3 -> 64x64,
         8192 codes of dim 3, no projections (Identity, no keys).

Eval forward (VQVAE.forward with rot=False, as reconstruction_fid.py calls it):
    e = pre_quant_proj(encoder(x) as b h w c)                    <- "latents" [N, D, h, w] (what vq receives)
    cosine:    e = e / ||e|| (torch.norm, no eps); vq: l2norm again (F.normalize, eps 1e-12);
               score = e . c for every STORED code c (codebook not re-normalised); code = argmax;
               q = c[code] / ||c[code]||
    euclidean: score = -sqrt(clamp(|e|^2 + |c|^2 - 2 e.c, 0)); code = argmax (= nearest); q = c[code]
    recon = decoder(post_quant_proj(q))
`decode_codes` follows the same path from codes (upstream's own `decode()` normalises over the wrong axis and
hard-codes h=16, so it is not used).

Preset "rt" (src/data/imagenet_dataset.py): torchvision CenterCrop(256) on the original image (no resize), ToTensor,
Normalize(mean=(0.4815,0.4578,0.4082), std=(0.2686,0.2613,0.2758)). Output: unnormalise v*std+mean, then
(v*255).astype(uint8) upstream (no clamp there; we clamp to [0,1] first), i.e. floor(clamp(v*std+mean,0,1)*255).
Checkpoint: `{'args': Namespace, 'model': DDP state dict ('module.' prefix), 'epoch', 'optimizer', 'scheduler'
(pickled object), 'best_val_loss'}` (src/train_utils/trainer.py), see containers.save_rt_checkpoint.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .ldm_vqgan import Decoder, Encoder


class _Codebook(nn.Module):
    """EuclideanCodebook / CosineSimCodebook buffers (registration order = state-dict order)."""

    def __init__(self, dim, codebook_size, cosine):
        super().__init__()
        embed = torch.nn.init.kaiming_uniform_(torch.empty(1, codebook_size, dim))
        if cosine:
            embed = F.normalize(embed, p=2, dim=-1)
        self.register_buffer("initted", torch.Tensor([True]))      # kmeans_init=False
        self.register_buffer("cluster_size", torch.zeros(1, codebook_size))
        self.register_buffer("embed_avg", embed.clone())
        self.register_buffer("embed", embed)


class VectorQuantize(nn.Module):
    def __init__(self, dim, codebook_size, use_cosine_sim):
        super().__init__()
        self.cosine = use_cosine_sim
        self.project_in = nn.Identity()
        self.project_out = nn.Identity()
        self._codebook = _Codebook(dim, codebook_size, use_cosine_sim)

    @property
    def codebook(self):
        return self._codebook.embed[0]

    def scores(self, flat):
        """flat [M, D] (already through transform_input) -> [M, K], higher is better (upstream `dist`)."""
        embed = self.codebook
        if self.cosine:
            return flat @ embed.t()
        x2 = (flat ** 2).sum(-1)
        y2 = (embed ** 2).sum(-1)
        xy = (flat @ embed.t()) * -2
        return -(x2[:, None] + y2[None, :] + xy).clamp(min=0).sqrt()

    def transform_input(self, flat):
        return F.normalize(flat, p=2, dim=-1) if self.cosine else flat

    def forward(self, x):
        """x [B, D, H, W] -> (quantize [B, D, H, W], indices [B, H, W])"""
        b, d, h, w = x.shape
        flat = self.transform_input(x.permute(0, 2, 3, 1).reshape(-1, d))
        ind = self.scores(flat).argmax(dim=-1)
        q = self.codebook[ind]
        return q.reshape(b, h, w, d).permute(0, 3, 1, 2), ind.reshape(b, h, w)


def _ddconfig(f, ch=128, ch_mult=None, num_res_blocks=2, attn_resolutions=None, z_channels=None, resolution=256):
    if f == 8:
        ch_mult = ch_mult or (1, 1, 2, 2, 4)
        attn_resolutions = [16] if attn_resolutions is None else attn_resolutions
        z_channels = z_channels or 256
    elif f == 4:
        ch_mult = ch_mult or (1, 2, 4)
        attn_resolutions = [] if attn_resolutions is None else attn_resolutions
        z_channels = z_channels or 3
    return dict(double_z=False, z_channels=z_channels, resolution=resolution, in_channels=3, out_ch=3, ch=ch,
                ch_mult=list(ch_mult), num_res_blocks=num_res_blocks, attn_resolutions=list(attn_resolutions),
                dropout=0.0)


class VQVAE(nn.Module):
    family = "rt-vqvae"

    def __init__(self, ddconfig, embed_dim, n_embed, codebook="cosine"):
        super().__init__()
        assert codebook in ("cosine", "euclidean")
        self.cosine = codebook == "cosine"
        self.num_codes = n_embed
        z = ddconfig["z_channels"]
        self.ddconfig, self.embed_dim = dict(ddconfig), embed_dim
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.vq = VectorQuantize(embed_dim, n_embed, self.cosine)
        if embed_dim != z:
            layers = [nn.Linear(z, embed_dim)] + ([nn.LayerNorm(embed_dim)] if self.cosine else [])
            self.pre_quant_proj = nn.Sequential(*layers)
            self.post_quant_proj = nn.Linear(embed_dim, z)
        else:
            self.pre_quant_proj = nn.Identity()
            self.post_quant_proj = nn.Identity()

    def encode_to_prequant(self, x):
        h = self.encoder(x).permute(0, 2, 3, 1)
        return self.pre_quant_proj(h).permute(0, 3, 1, 2).contiguous()

    def _vq_input(self, latents):
        if self.cosine:
            latents = latents / torch.norm(latents, dim=1, keepdim=True)   # VQVAE.forward, no eps
        return latents

    def encode(self, x):
        latents = self.encode_to_prequant(x)
        _, codes = self.vq(self._vq_input(latents))
        return latents, codes

    def codes_from_latents(self, latents):
        return self.vq(self._vq_input(latents))[1]

    def decode_quantized(self, q):
        """q [B, D, H, W] codebook vectors (not yet normalised)."""
        if self.cosine:
            q = q / torch.norm(q, dim=1, keepdim=True)
        h = self.post_quant_proj(q.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.decoder(h)

    def decode_codes(self, codes):
        q = self.vq.codebook[codes]                    # [B, H, W, D]
        return self.decode_quantized(q.permute(0, 3, 1, 2))

    def forward(self, x):
        q, _ = self.vq(self._vq_input(self.encode_to_prequant(x)))
        return self.decode_quantized(q)

    def code_scores(self, latents):
        d = latents.shape[1]
        flat = self.vq.transform_input(self._vq_input(latents).permute(0, 2, 3, 1).reshape(-1, d))
        return self.vq.scores(flat), "max"


def build(f, codebook, **dd):
    """Table 1 configuration (f in {8, 4}); `dd` overrides ddconfig fields (small test variants)."""
    embed_dim = dd.pop("embed_dim", 32 if f == 8 else 3)
    n_embed = dd.pop("n_embed", 1024 if f == 8 else 8192)
    return VQVAE(_ddconfig(f, **dd), embed_dim, n_embed, codebook)
