"""Golden values for package attention, with PyTorch 1.13 autograd gradients.

Groups (prefix of every tensor name):
  mha_self / mha_left / mha_cross  torch.nn.MultiheadAttention (in_proj_weight) with
                                   right padding + causal, left padding, cross-attention
  bert_layer                       HF BERT / BLIP-2 Q-Former layer (post-LN), ITG prefix-causal
                                   mask + padding, extended mask fill -10000
  bert_cross                       Q-Former cross-attention sub-layer into wider (24) features,
                                   invert_attention_mask fill finfo.min
  clip / clip_causal               HF CLIP encoder layer (pre-LN, quick_gelu), with probabilities
  decoder                          OPT-style pre-LN decoder layer with causal self-attention over
                                   left-padded text (finfo.min, fully masked pad rows) and BART-style
                                   encoder_attn cross-attention into padded memory
  fill_*                           scaled dot-product attention with fully masked rows under each
                                   fill policy (-10000, finfo.min, Flamingo's replace + zero rows,
                                   the exclude default) and an additive bias
  flamingo                         lucidrains/flamingo-pytorch v0.1.2 MaskedCrossAttention
  additive_relu / additive_tanh    Show-Attend-Tell soft attention (tutorial ReLU, paper tanh)

Every loss is sum(y * r) for a fixed random r. Masks are stored as 0/1 keep values.

Run: /usr/bin/python3 testdata/gen/attention.py  (writes attention/testdata/attention.safetensors)

     /usr/bin/python3 testdata/gen/attention.py bench  times PyTorch on the sizes of the Go
     benchmarks (one thread, no grad, median ms), to run alternately with
     go test -run X -bench 'SelfAttention$|CrossAttention' -cpu 1 ./attention/
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from goldens import save, grads



def bench():
    torch.set_num_threads(1)

    def median_ms(f, n=30):
        for _ in range(3):
            f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    with torch.no_grad():
        d, h = 768, 12
        proj = [nn.Linear(d, d) for _ in range(4)]
        x = torch.randn(1, 197, d)

        def self_attn():  # HF CLIPAttention
            b, n, _ = x.shape
            sp = lambda t: t.view(b, n, h, d // h).transpose(1, 2)
            q, k, v = sp(proj[0](x) * (d // h) ** -0.5), sp(proj[1](x)), sp(proj[2](x))
            w = (q @ k.transpose(-1, -2)).softmax(-1)
            return proj[3]((w @ v).transpose(1, 2).reshape(b, n, d))

        kv = [nn.Linear(1408, d) for _ in range(2)]
        xq, img = torch.randn(1, 32, d), torch.randn(1, 257, 1408)

        def memory():
            sp = lambda t: t.view(1, 257, h, d // h).transpose(1, 2)
            return sp(kv[0](img)), sp(kv[1](img))

        def cross(mem):  # HF Blip2QFormerMultiHeadAttention, cross
            k, v = mem
            q = proj[0](xq).view(1, 32, h, d // h).transpose(1, 2)
            w = (q @ k.transpose(-1, -2) / math.sqrt(d // h)).softmax(-1)
            return proj[3]((w @ v).transpose(1, 2).reshape(1, 32, d))

        mem = memory()
        print("torch %s, 1 thread, median ms" % torch.__version__)
        print("SelfAttention [1,197,768] x12      %.2f" % median_ms(self_attn))
        print("CrossAttention/project 32 x 257x1408  %.2f" % median_ms(lambda: cross(memory())))
        print("CrossAttention/reuse               %.3f" % median_ms(lambda: cross(mem), 200))


if len(sys.argv) > 1 and sys.argv[1] == "bench":
    bench()
    sys.exit(0)

torch.manual_seed(0)
out = {}
FMIN = torch.finfo(torch.float32).min
FMAX = torch.finfo(torch.float32).max


def put(prefix, **kw):
    for k, v in kw.items():
        out[prefix + "." + k] = v


def loss_of(y, prefix, name="r"):
    r = torch.randn(y.shape)
    out[prefix + "." + name] = r
    return (y * r).sum()


def params(prefix, module):
    for n, p in module.named_parameters():
        out[prefix + ".p." + n] = p.detach().clone()


def pgrads(prefix, module):
    out.update(grads(prefix + ".g.", module.named_parameters()))


# ---------------------------------------------------------------- torch MHA
def mha_case(prefix, B, Tq, Tk, E, H, kpm_keep, causal, cross):
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        mha.in_proj_bias.normal_(0, 0.1)
        mha.out_proj.bias.normal_(0, 0.1)
    params(prefix, mha)
    x = torch.randn(B, Tq, E, requires_grad=True)
    ctx = torch.randn(B, Tk, E, requires_grad=True) if cross else x
    attn_mask = None
    if causal:
        attn_mask = torch.ones(Tq, Tk, dtype=torch.bool).triu(1)  # True = not allowed
    y, w = mha(x, ctx, ctx, key_padding_mask=~kpm_keep.bool(), attn_mask=attn_mask,
               need_weights=True, average_attn_weights=False)
    loss_of(y, prefix).backward()
    put(prefix, x=x, y=y, probs=w, keep=kpm_keep.float(), dx=x.grad)
    if cross:
        put(prefix, ctx=ctx, dctx=ctx.grad)
    pgrads(prefix, mha)


E, H = 16, 4
mha_case("mha_self", 2, 5, 5, E, H, torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]), True, False)
mha_case("mha_left", 2, 5, 5, E, H, torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]), False, False)
mha_case("mha_cross", 2, 4, 6, E, H, torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]]), False, True)


# ---------------------------------------------------------------- BERT / Q-Former
class BertSelfAttention(nn.Module):
    def __init__(self, d, h, kv_width):
        super().__init__()
        self.h, self.dh = h, d // h
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(kv_width, d)
        self.value = nn.Linear(kv_width, d)

    def split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.h, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, ctx, ext_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(ctx)), self.split(self.value(ctx))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        scores = scores + ext_mask
        probs = scores.softmax(-1)
        c = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
        return c, probs


class BertOutput(nn.Module):  # BertSelfOutput and BertOutput
    def __init__(self, d_in, d, eps):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertAttention(nn.Module):
    def __init__(self, d, h, kv_width, eps, inner):
        super().__init__()
        self.inner = inner
        setattr(self, inner, BertSelfAttention(d, h, kv_width))
        self.output = BertOutput(d, d, eps)

    def forward(self, x, ctx, ext_mask):
        c, p = getattr(self, self.inner)(x, ctx, ext_mask)
        return self.output(c, x), p


class BertIntermediate(nn.Module):
    def __init__(self, d, i):
        super().__init__()
        self.dense = nn.Linear(d, i)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, d, h, i, eps, inner):
        super().__init__()
        self.attention = BertAttention(d, h, d, eps, inner)
        self.intermediate = BertIntermediate(d, i)
        self.output = BertOutput(i, d, eps)

    def forward(self, x, ext_mask):
        a, p = self.attention(x, x, ext_mask)
        return self.output(self.intermediate(a), a), p


def randomize_ln(m):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.normal_(1, 0.2)
                mod.bias.normal_(0, 0.2)


D, NH, I = 32, 4, 64
Q, T = 2, 4
layer = BertLayer(D, NH, I, 1e-12, "attention")  # HF BLIP-2 names: attention.attention.query
randomize_ln(layer)
params("bert_layer", layer)
x = torch.randn(2, Q + T, D, requires_grad=True)
text_keep = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float32)
am = torch.cat([torch.ones(2, Q), text_keep], 1)  # (B, Q+T)
# LAVIS get_extended_attention_mask, is_decoder=True, has_query=True
causal = (torch.arange(T)[None, :] <= torch.arange(T)[:, None]).float()[None].repeat(2, 1, 1)
causal = torch.cat([torch.zeros(2, Q, T), causal], 1)
causal = torch.cat([torch.ones(2, Q + T, Q), causal], 2)
ext = causal[:, None] * am[:, None, None, :]
keep = ext.clone()
ext = (1.0 - ext) * -10000.0
y, p = layer(x, ext)
loss_of(y, "bert_layer").backward()
put("bert_layer", x=x, y=y, probs=p, keep=keep, dx=x.grad)
pgrads("bert_layer", layer)

# Cross-attention sub-layer, LAVIS names (crossattention.self.query), 24-wide image features.
W = 24
cross = BertAttention(D, NH, W, 1e-12, "self")
randomize_ln(cross)
holder = nn.Module()
holder.crossattention = cross  # keys crossattention.self.query.weight, ...
params("bert_cross", holder)
xq = torch.randn(2, 3, D, requires_grad=True)
img = torch.randn(2, 5, W, requires_grad=True)
img_keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float32)
enc_ext = (1.0 - img_keep[:, None, None, :]) * FMIN
y, p = cross(xq, img, enc_ext)
loss_of(y, "bert_cross").backward()
put("bert_cross", x=xq, ctx=img, keep=img_keep, y=y, probs=p, dx=xq.grad, dctx=img.grad)
pgrads("bert_cross", holder)


# ---------------------------------------------------------------- CLIP
class CLIPAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.scale = self.dh ** -0.5
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):
        b, n, d = x.shape
        sp = lambda t: t.view(b, n, self.h, self.dh).transpose(1, 2).reshape(b * self.h, n, self.dh)
        q = sp(self.q_proj(x) * self.scale)
        k, v = sp(self.k_proj(x)), sp(self.v_proj(x))
        w = torch.bmm(q, k.transpose(1, 2))
        if mask is not None:
            w = (w.view(b, self.h, n, n) + mask).view(b * self.h, n, n)
        w = w.softmax(-1)
        o = torch.bmm(w, v).view(b, self.h, n, self.dh).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(o), w.view(b, self.h, n, n)


class CLIPMLP(nn.Module):
    def __init__(self, d, i):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, i), nn.Linear(i, d)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, d, h, i):
        super().__init__()
        self.self_attn = CLIPAttention(d, h)
        self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = CLIPMLP(d, i)
        self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)

    def forward(self, x, mask=None):
        a, p = self.self_attn(self.layer_norm1(x), mask)
        x = x + a
        return x + self.mlp(self.layer_norm2(x)), p


for tag, causal_mask in [("clip", False), ("clip_causal", True)]:
    clip = CLIPEncoderLayer(D, NH, I)
    randomize_ln(clip)
    params(tag, clip)
    x = torch.randn(2, 7, D, requires_grad=True)
    mask = None
    if causal_mask:  # CLIP text: _build_causal_attention_mask, filled with finfo.min
        mask = torch.full((7, 7), FMIN).triu(1)[None, None]
    y, p = clip(x, mask)
    loss_of(y, tag).backward()
    put(tag, x=x, y=y, probs=p, dx=x.grad)
    pgrads(tag, clip)


# ---------------------------------------------------------------- OPT/BART decoder layer
class SepAttention(nn.Module):
    def __init__(self, d, h, kv):
        super().__init__()
        self.h, self.dh = h, d // h
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(kv, d)
        self.v_proj, self.out_proj = nn.Linear(kv, d), nn.Linear(d, d)

    def forward(self, x, ctx, mask):
        b, n, d = x.shape
        m = ctx.shape[1]
        sp = lambda t, s: t.view(b, s, self.h, self.dh).transpose(1, 2)
        q = sp(self.q_proj(x) * self.dh ** -0.5, n)
        k, v = sp(self.k_proj(ctx), m), sp(self.v_proj(ctx), m)
        w = (q @ k.transpose(-1, -2) + mask).softmax(-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, d)), w


class DecoderLayer(nn.Module):
    def __init__(self, d, h, i, kv):
        super().__init__()
        self.self_attn = SepAttention(d, h, d)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = SepAttention(d, h, kv)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, i), nn.Linear(i, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x, self_mask, mem, mem_mask):
        a, p = self.self_attn(self.self_attn_layer_norm(x), self.self_attn_layer_norm(x), self_mask)
        x = x + a
        c, pc = self.encoder_attn(self.encoder_attn_layer_norm(x), mem, mem_mask)
        x = x + c
        return x + self.fc2(F.relu(self.fc1(self.final_layer_norm(x)))), p, pc


dec = DecoderLayer(D, NH, I, W)
randomize_ln(dec)
params("decoder", dec)
Td, Tm = 6, 5
x = torch.randn(2, Td, D, requires_grad=True)
mem = torch.randn(2, Tm, W, requires_grad=True)
txt_keep = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], dtype=torch.float32)  # left padding
mem_keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float32)
causal = (torch.arange(Td)[None, :] <= torch.arange(Td)[:, None]).float()
self_keep = causal[None, None] * txt_keep[:, None, None, :]
self_mask = (1 - self_keep) * FMIN  # rows 0, 1 of sample 1 are fully masked: uniform
mem_mask = (1 - mem_keep[:, None, None, :]) * FMIN
y, p, pc = dec(x, self_mask, mem, mem_mask)
loss_of(y, "decoder").backward()
put("decoder", x=x, mem=mem, txt_keep=txt_keep, mem_keep=mem_keep, y=y, probs=p, cross_probs=pc,
    dx=x.grad, dmem=mem.grad)
pgrads("decoder", dec)


# ---------------------------------------------------------------- fill policies
B, Hh, Tq, Tk, Dh = 2, 2, 4, 5, 3
keep = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
keep[0, :, 1] = False                     # fully masked row
keep[0, :, 2, 3:] = False                 # partially masked row
keep[1, :, 3] = False                     # fully masked row
keep[1, :, 0, :2] = False
rows = torch.ones(B, Tq, dtype=torch.bool)
rows[0, 2] = False                        # zeroed row (Flamingo text before the first image)
rows[1, 3] = False                        # zeroed row that is also fully masked
put("fill", keep=keep.float(), rows=rows.float())
q0, k0, v0 = torch.randn(B, Hh, Tq, Dh), torch.randn(B, Hh, Tk, Dh), torch.randn(B, Hh, Tk, Dh)
bias = torch.randn(B, Hh, Tq, Tk)
put("fill", q=q0, k=k0, v=v0, bias=bias)
rr = torch.randn(B, Hh, Tq, Dh)
out["fill.r"] = rr


def fill_case(tag, probs_fn):
    q, k, v = (t.clone().requires_grad_() for t in (q0, k0, v0))
    s = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    p = probs_fn(s)
    y = p @ v
    (y * rr).sum().backward()
    put("fill_" + tag, y=y, probs=p, dq=q.grad, dk=k.grad, dv=v.grad)


fill_case("minus10000", lambda s: (s + (~keep).float() * -10000.0).softmax(-1))
fill_case("min", lambda s: (s + (~keep).float() * FMIN).softmax(-1))


def flamingo_probs(s):
    s = s.masked_fill(~keep, -FMAX)
    s = s - s.amax(-1, keepdim=True).detach()
    return s.softmax(-1).masked_fill(~rows[:, None, :, None], 0.0)


fill_case("replace", flamingo_probs)


def exclude_probs(s, with_bias=False):
    if with_bias:
        s = s + bias
    full = ~keep.any(-1, keepdim=True)
    s = s.masked_fill(~keep, float("-inf")).masked_fill(full, 0.0)
    return s.softmax(-1).masked_fill(full, 0.0)


fill_case("exclude", exclude_probs)
fill_case("exclude_bias", lambda s: exclude_probs(s, True))


# ---------------------------------------------------------------- Flamingo MaskedCrossAttention
class MaskedCrossAttention(nn.Module):  # lucidrains/flamingo-pytorch 10913ab, einops written out
    def __init__(self, dim, dim_head, heads):
        super().__init__()
        self.scale, self.heads = dim_head ** -0.5, heads
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x, media, media_locations):
        b, t, m = media.shape[:3]
        h = self.heads
        x = self.norm(x)
        q = self.to_q(x)
        media = media.reshape(b, t * m, -1)
        k, v = self.to_kv(media).chunk(2, dim=-1)
        sp = lambda z: z.view(z.shape[0], z.shape[1], h, -1).transpose(1, 2)
        q, k, v = sp(q), sp(k), sp(v)
        q = q * self.scale
        sim = q @ k.transpose(-1, -2)
        text_time = media_locations.cumsum(dim=-1)
        media_time = torch.arange(t) + 1
        mask = torch.eq(text_time[:, None, :, None], media_time.repeat_interleave(m)[None, None, None, :])
        sim = sim.masked_fill(~mask, -torch.finfo(sim.dtype).max)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        attn = attn.masked_fill((text_time == 0)[:, None, :, None], 0.0)
        o = (attn @ v).transpose(1, 2).reshape(b, x.shape[1], -1)
        return self.to_out(o), attn


fl = MaskedCrossAttention(D, 8, 4)
randomize_ln(fl)
params("flamingo", fl)
x = torch.randn(2, 6, D, requires_grad=True)
media = torch.randn(2, 2, 3, D, requires_grad=True)
# a <img> b c <img> d ;  <img> a <img> b <img> c (third <img> has no media: uniform)
locs = torch.tensor([[0, 1, 0, 0, 1, 0], [1, 0, 1, 0, 1, 0]], dtype=torch.bool)
y, p = fl(x, media, locs)
loss_of(y, "flamingo").backward()
put("flamingo", x=x, media=media, locations=locs.long(), y=y, probs=p, dx=x.grad, dmedia=media.grad)
pgrads("flamingo", fl)


# ---------------------------------------------------------------- Show, Attend and Tell
class Attention(nn.Module):  # sgrvinod tutorial models.py, act configurable
    def __init__(self, encoder_dim, decoder_dim, attention_dim, act):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.act = act

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.act(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = att.softmax(dim=1)
        awe = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return awe, alpha


for tag, act in [("additive_relu", torch.relu), ("additive_tanh", torch.tanh)]:
    att = Attention(10, 7, 5, act)
    params(tag, att)
    enc = torch.randn(2, 6, 10, requires_grad=True)
    hid = torch.randn(2, 7, requires_grad=True)
    awe, alpha = att(enc, hid)
    (loss_of(awe, tag) + loss_of(alpha, tag, "r_alpha")).backward()
    put(tag, enc=enc, h=hid, awe=awe, alpha=alpha, denc=enc.grad, dh=hid.grad)
    pgrads(tag, att)

save("attention/testdata/attention.safetensors", out, {"torch": torch.__version__})
