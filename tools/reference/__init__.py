"""PyTorch reference implementations of the three vqrt model families (inference path only).

Written from /work/shared/spec/architectures.md (checked against the upstream repositories); module attribute names
are chosen so that `state_dict()` keys and shapes are exactly those of the upstream checkpoints.

    ldm_vqgan  latent-diffusion VQModel + taming VectorQuantizer2 (Table 3, "ldm-vqgan")
    rt_vqvae   rotation_trick Table 1 VQVAE with its vendored lucidrains VectorQuantize ("rt-vqvae")
    vit_vqgan  enhancing-transformers ViTVQ (Table 4, "vit-vqgan")

Every model has `encode(x) -> (latents, codes)` and `decode_codes(codes) -> recon`. Preprocessing presets and the
8-bit output mapping live in `presets.py`. Used only to generate fixtures; vqrt never runs Python.
"""
