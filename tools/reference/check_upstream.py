"""Developer check: run the UPSTREAM model code (read from local git mirrors, never vendored here) and
tools/reference side by side with the same weights and inputs; prints max-abs differences (all 0.0 when written).

    .venv-tools/bin/python tools/reference/check_upstream.py [MIRROR_ROOT]   # default /work/.mirror

Mirrors (bare git dirs from the search tool's fetch): cfifty+rotation_trick, CompVis+latent-diffusion,
CompVis+taming-transformers, thuanz123+enhancing-transformers.
"""
import sys, types, importlib.util, argparse, os, subprocess, tempfile
import numpy as np, torch
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MIRROR = sys.argv[1] if len(sys.argv) > 1 else '/work/.mirror'
SRC = tempfile.mkdtemp(prefix='vqrt_upstream_')
FILES = {
    'ldm_model.py': ('CompVis+latent-diffusion', 'ldm/modules/diffusionmodules/model.py'),
    'taming_model.py': ('CompVis+taming-transformers', 'taming/modules/diffusionmodules/model.py'),
    'taming_quantize.py': ('CompVis+taming-transformers', 'taming/modules/vqvae/quantize.py'),
    'rt_vq_vae.py': ('cfifty+rotation_trick', 'src/models/vq_vae.py'),
    'rt_model_utils.py': ('cfifty+rotation_trick', 'src/models/model_utils.py'),
    'rt_local_vq.py': ('cfifty+rotation_trick', 'src/local_vector_quantize_pytorch/vector_quantize_pytorch.py'),
    'enh_layers.py': ('thuanz123+enhancing-transformers', 'enhancing/modules/stage1/layers.py'),
    'enh_quantizers.py': ('thuanz123+enhancing-transformers', 'enhancing/modules/stage1/quantizers.py'),
}
for fname, (repo, path) in FILES.items():
    with open(os.path.join(SRC, fname), 'wb') as f:
        f.write(subprocess.check_output(['git', '-C', os.path.join(MIRROR, repo, 'repo'), 'show', 'HEAD:' + path]))
np.float = float  # enhancing-transformers uses np.float (removed in numpy >= 1.24)
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
torch.manual_seed(0)

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m); return m

def stub(name, **attrs):
    m = types.ModuleType(name); m.__dict__.update(attrs); sys.modules[name] = m; return m

for p in ['ldm', 'ldm.modules', 'taming', 'taming.modules', 'taming.modules.diffusionmodules', 'src', 'src.models',
          'src.local_vector_quantize_pytorch', 'diffusers', 'diffusers.models', 'diffusers.models.autoencoders']:
    stub(p)
stub('ldm.util', instantiate_from_config=None)
stub('ldm.modules.attention', LinearAttention=object)
stub('pyprojroot', here=lambda: '.')
stub('diffusers.models.autoencoders.vae', Encoder=None, Decoder=None)
ldm_model = load('ldm.modules.diffusionmodules.model', os.path.join(SRC, 'ldm_model.py'))
taming_model = load('taming.modules.diffusionmodules.model', os.path.join(SRC, 'taming_model.py'))
tq = load('taming_quantize', os.path.join(SRC, 'taming_quantize.py'))
load('src.models.model_utils', os.path.join(SRC, 'rt_model_utils.py'))
load('src.local_vector_quantize_pytorch.vector_quantize_pytorch', os.path.join(SRC, 'rt_local_vq.py'))
rt_up = load('rt_vq_vae', os.path.join(SRC, 'rt_vq_vae.py'))
enh_layers = load('enh_layers', os.path.join(SRC, 'enh_layers.py'))
enh_q = load('enh_quantizers', os.path.join(SRC, 'enh_quantizers.py'))

from reference import ldm_vqgan, rt_vqvae, vit_vqgan
from vqrt_rng import fill_state_dict

def report(tag, a, b):
    a, b = a.detach().double(), b.detach().double()
    print(f'{tag:55s} maxabs {float((a - b).abs().max()):.3e}', flush=True)

# ---- ldm
for name, cfg in [('vq-f8 (ch 32 variant)', dict(ddconfig=ldm_vqgan._dd((1,2,2,4),[16],4,ch=32,resolution=128), n_embed=64, embed_dim=4)),
                  ('vq-f4-noattn (ch 32)', dict(ddconfig=ldm_vqgan._dd((1,2,4),[],3,attn_type='none',ch=32,resolution=64), n_embed=64, embed_dim=3))]:
    ref = ldm_vqgan.build(cfg).eval(); fill_state_dict(ref, 7)
    class Up(torch.nn.Module):
        def __init__(s):
            super().__init__()
            s.encoder = ldm_model.Encoder(**cfg['ddconfig']); s.decoder = ldm_model.Decoder(**cfg['ddconfig'])
            s.quantize = tq.VectorQuantizer2(cfg['n_embed'], cfg['embed_dim'], beta=0.25, remap=None, sane_index_shape=True)
            s.quant_conv = torch.nn.Conv2d(cfg['ddconfig']['z_channels'], cfg['embed_dim'], 1)
            s.post_quant_conv = torch.nn.Conv2d(cfg['embed_dim'], cfg['ddconfig']['z_channels'], 1)
    up = Up().eval(); print(up.load_state_dict(ref.state_dict(), strict=True))
    assert list(up.state_dict()) == list(ref.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        h = up.quant_conv(up.encoder(x)); zq, _, (_, _, ind) = up.quantize(h); rec_up = up.decoder(up.post_quant_conv(zq))
        lat, codes = ref.encode(x); rec_ref = ref(x)
        report(f'ldm {name} latents', lat, h); print('   codes equal', torch.equal(codes, ind), 'distinct', codes.unique().numel())
        report(f'ldm {name} forward recon', rec_ref, rec_up)
        e = up.quantize.get_codebook_entry(ind.reshape(-1), (2, h.shape[2], h.shape[3], cfg['embed_dim']))
        report(f'ldm {name} decode_codes vs upstream get_codebook_entry', ref.decode_codes(codes), up.decoder(up.post_quant_conv(e)))

# ---- rt-vqvae, full-size upstream class (needs args.dataset imagenet), small input
for f in (8, 4):
    for cb in ('cosine', 'euclidean'):
        args = argparse.Namespace(dataset='imagenet', f=f, codebook=cb, commit_weight=1.0)
        up = rt_up.VQVAE(args).eval(); ref = rt_vqvae.build(f, cb).eval()
        fill_state_dict(ref, 11)
        if cb == 'cosine':   # realistic unit-norm codebook
            with torch.no_grad(): ref.vq._codebook.embed.copy_(torch.nn.functional.normalize(ref.vq._codebook.embed, dim=-1))
        print(up.load_state_dict(ref.state_dict(), strict=True)); assert list(up.state_dict()) == list(ref.state_dict())
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            _, _, rec_up = up(x, return_rec=True)
            lat, codes = ref.encode(x)
            e = up.pre_quant_proj(up.encoder(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            if cb == 'cosine': e = e / torch.norm(e, dim=1, keepdim=True)
            _, ind, _ = up.vq(e)
            report(f'rt f={f} {cb} forward recon', ref(x), rec_up)
            print('   codes equal', torch.equal(codes, ind), 'distinct', codes.unique().numel())
            report(f'rt f={f} {cb} decode_codes vs upstream forward', ref.decode_codes(codes), rec_up)

# ---- vit (small-ish config through upstream layers + quantizer)
cfg = dict(image_size=32, patch_size=8, encoder=dict(dim=64, depth=2, heads=4, mlp_dim=128), decoder=dict(dim=64, depth=2, heads=4, mlp_dim=128), quantizer=dict(embed_dim=8, n_embed=64))
ref = vit_vqgan.build(cfg).eval(); fill_state_dict(ref, 5)
with torch.no_grad():
    ref.encoder.en_pos_embedding.copy_(torch.from_numpy(vit_vqgan.sincos_pos_embed(64, 4, 4))[None]); ref.decoder.de_pos_embedding.copy_(ref.encoder.en_pos_embedding)
class UpV(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.encoder = enh_layers.ViTEncoder(image_size=32, patch_size=8, **cfg['encoder']); s.decoder = enh_layers.ViTDecoder(image_size=32, patch_size=8, **cfg['decoder'])
        s.quantizer = enh_q.VectorQuantizer(**cfg['quantizer']); s.pre_quant = torch.nn.Linear(64, 8); s.post_quant = torch.nn.Linear(8, 64)
up = UpV().eval(); print('pos-emb equal (fresh upstream vs ref formula)', torch.equal(up.encoder.en_pos_embedding, ref.encoder.en_pos_embedding))
print(up.load_state_dict(ref.state_dict(), strict=True)); assert list(up.state_dict()) == list(ref.state_dict())
x = torch.rand(2, 3, 32, 32)
with torch.no_grad():
    h = up.pre_quant(up.encoder(x)); zq, _, ind = up.quantizer(h); rec_up = up.decoder(up.post_quant(zq))
    lat, codes = ref.encode(x)
    report('vit latents', lat, h); print('   codes equal', torch.equal(codes.reshape(2, -1), ind), 'distinct', codes.unique().numel())
    report('vit forward recon', ref(x), rec_up)
    q = up.quantizer.norm(up.quantizer.embedding(ind)); report('vit decode_codes vs upstream decode_codes path', ref.decode_codes(codes), up.decoder(up.post_quant(q)))

# ---- the committed small fixtures, loaded into the UPSTREAM modules from their real containers
import yaml
FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'Fixtures', 'models')

def fixture(name, fname):
    d = os.path.join(FIX, name)
    ck = torch.load(os.path.join(d, fname), map_location='cpu', weights_only=False)
    return d, ck, torch.from_numpy(np.load(os.path.join(d, 'input.npy'))), np.load(os.path.join(d, 'codes.npy')), np.load(os.path.join(d, 'recon.npy'))

if os.path.isdir(os.path.join(FIX, 'ldm-small')):
    d, ck, x, codes, recon = fixture('ldm-small', 'model.ckpt')
    p = yaml.safe_load(open(os.path.join(d, 'config.yaml')))['model']['params']
    up = torch.nn.Module()
    up.encoder = ldm_model.Encoder(**p['ddconfig']); up.decoder = ldm_model.Decoder(**p['ddconfig'])
    up.quantize = tq.VectorQuantizer2(p['n_embed'], p['embed_dim'], beta=0.25)
    up.quant_conv = torch.nn.Conv2d(p['ddconfig']['z_channels'], p['embed_dim'], 1)
    up.post_quant_conv = torch.nn.Conv2d(p['embed_dim'], p['ddconfig']['z_channels'], 1)
    sd = {k: v for k, v in ck['state_dict'].items() if not k.startswith('loss.')}
    print('ldm-small container -> upstream modules:', up.eval().load_state_dict(sd, strict=True))
    with torch.no_grad():
        h = up.quant_conv(up.encoder(x)); zq, _, (_, _, ind) = up.quantize(h)
        e = up.quantize.get_codebook_entry(ind, (x.shape[0], h.shape[2], h.shape[3], p['embed_dim']))
        print('   codes equal', np.array_equal(ind.reshape(codes.shape).numpy(), codes)); report('ldm-small recon.npy vs upstream', torch.from_numpy(recon), up.decoder(up.post_quant_conv(e)))

if os.path.isdir(os.path.join(FIX, 'rt-small-cosine')):
    stub('src.train_utils'); from reference import containers; containers._schedulers_module()
    d, ck, x, codes, recon = fixture('rt-small-cosine', '20_model.pth')
    cj = __import__('json').load(open(os.path.join(d, 'case.json')))['config']
    dd = dict(cj['ddconfig'])
    orig_E, orig_D = rt_up.Encoder, rt_up.Decoder
    rt_up.Encoder = lambda **kw: orig_E(**{**kw, **dd}); rt_up.Decoder = lambda **kw: orig_D(**{**kw, **dd})
    rt_up.get_model_params = lambda dataset, f: (3, dd['resolution'], dd['z_channels'], cj['embed_dim'], cj['n_embed'])
    up = rt_up.VQVAE(ck['args']).eval()
    up = torch.nn.DataParallel(up)   # as reconstruction_fid.py loads it: keys keep 'module.'
    print('rt-small container -> upstream VQVAE (DataParallel):', up.load_state_dict(ck['model'], strict=True))
    with torch.no_grad():
        _, _, rec = up.module(x, return_rec=True)
    report('rt-small recon.npy vs upstream forward', torch.from_numpy(recon), rec)

if os.path.isdir(os.path.join(FIX, 'vit-small')):
    d, ck, x, codes, recon = fixture('vit-small', 'last.ckpt')
    p = yaml.safe_load(open(os.path.join(d, 'config.yaml')))['model']['params']
    up = torch.nn.Module()
    up.encoder = enh_layers.ViTEncoder(image_size=p['image_size'], patch_size=p['patch_size'], **p['encoder'])
    up.decoder = enh_layers.ViTDecoder(image_size=p['image_size'], patch_size=p['patch_size'], **p['decoder'])
    up.quantizer = enh_q.VectorQuantizer(**p['quantizer'])
    up.pre_quant = torch.nn.Linear(p['encoder']['dim'], p['quantizer']['embed_dim']); up.post_quant = torch.nn.Linear(p['quantizer']['embed_dim'], p['decoder']['dim'])
    sd = {k: v for k, v in ck['state_dict'].items() if not k.startswith('loss.')}
    print('vit-small container -> upstream modules:', up.eval().load_state_dict(sd, strict=True))
    with torch.no_grad():
        _, _, ind = up.quantizer(up.pre_quant(up.encoder(x)))
        print('   codes equal', np.array_equal(ind.reshape(codes.shape).numpy(), codes))
        report('vit-small recon.npy vs upstream decode_codes', torch.from_numpy(recon), up.decoder(up.post_quant(up.quantizer.norm(up.quantizer.embedding(ind)))))

# ---- the demo model, through the upstream modules, against Fixtures/demo/recon.npy
DEMO = os.path.join(FIX, '..', 'demo')
if os.path.exists(os.path.join(DEMO, 'demo-vqgan.ckpt')):
    from PIL import Image
    import json as _json
    ref = _json.load(open(os.path.join(DEMO, 'reference.json')))
    p = yaml.safe_load(open(os.path.join(DEMO, 'config.yaml')))['model']['params']
    up = torch.nn.Module()
    up.encoder = ldm_model.Encoder(**p['ddconfig']); up.decoder = ldm_model.Decoder(**p['ddconfig'])
    up.quantize = tq.VectorQuantizer2(p['n_embed'], p['embed_dim'], beta=0.25, sane_index_shape=True)
    up.quant_conv = torch.nn.Conv2d(p['ddconfig']['z_channels'], p['embed_dim'], 1)
    up.post_quant_conv = torch.nn.Conv2d(p['embed_dim'], p['ddconfig']['z_channels'], 1)
    ck = torch.load(os.path.join(DEMO, 'demo-vqgan.ckpt'), map_location='cpu', weights_only=True)
    print('demo ckpt -> upstream modules:', up.eval().load_state_dict(ck['state_dict'], strict=True))
    imgs = [np.asarray(Image.open(os.path.join(DEMO, 'images', n)).convert('RGB')) for n in ref['images']]
    x = torch.from_numpy(np.stack([(im / 127.5 - 1.0).astype(np.float32).transpose(2, 0, 1) for im in imgs]))
    with torch.no_grad():
        h = up.quant_conv(up.encoder(x)); _, _, (_, _, ind) = up.quantize(h)
        e = up.quantize.get_codebook_entry(ind.reshape(-1), (x.shape[0], h.shape[2], h.shape[3], p['embed_dim']))
        rec = up.decoder(up.post_quant_conv(e))
    print('   codes equal', np.array_equal(ind.numpy(), np.load(os.path.join(DEMO, 'codes.npy'))))
    report('demo recon.npy vs upstream', torch.from_numpy(np.load(os.path.join(DEMO, 'recon.npy'))), rec)
