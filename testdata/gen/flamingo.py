"""Golden values for packages resampler and gating, with PyTorch 1.13 autograd gradients.

Plain-torch re-implementations (einops written out) of
  O = mlfoundations/open_flamingo 655f693, open_flamingo/src/helpers.py and flamingo_lm.py
  L = lucidrains/flamingo-pytorch 10913ab (v0.1.2), flamingo_pytorch.py and flamingo_palm.py
with each reference's parameter names (see /work/shared/reference/03-flamingo.md).

resampler/testdata/resampler.safetensors, groups (prefix of every tensor name):
  o        O PerceiverResampler with media_time_embs (3 rows) and frame_embs (3 rows),
           5-D input [2, 2, 2, 3, D]: unused embedding rows get zero gradient
  o_plain  O PerceiverResampler as OpenFlamingo instantiates it (no embeddings), [1, 2, 1, 5, D]
  l4       L PerceiverResampler (media_pos_emb, 4 rows), 4-D input [2, 3, 4, D]
  l3       the same module on 3-D input [2, 4, D]
gating/testdata/gating.safetensors, groups:
  o_imm / o_all    O GatedCrossAttentionBlock, dim 16, dim_visual 12, immediate / all-previous
                   media; text before the first <image>, two images per sample, and a sample
                   with three <image> tokens for two media (text_time > T_img)
  o_cached         O block with use_cached_media=True: 2 new tokens after a 7-token prompt;
                   one sample has no <image> at all
  l_imm / l_all    L GatedCrossAttentionBlock (dim_visual = dim), both modes
  stack_o          four OPT-style pre-LN decoder layers wrapped as O's FlamingoLayer, gated block
                   BEFORE layer i when (i+1) % 2 == 0 (layers 1 and 3), keys
                   layers.{i}.gated_cross_attn_layer.*, layers.{i}.decoder_layer.*
  stack_l          the same LM wrapped as L's FlamingoPaLM loop, gated block AFTER layer i when
                   i % 3 == 0 (layers 0 and 3), keys layers.{i}.0.* (LM), layers.{i}.1.* (gated)
Gates are set to non-zero values so that every parameter gets a gradient. Every loss is
sum(y * r) for a fixed random r. Locations are stored as 0/1 int64.

Run: /usr/bin/python3 testdata/gen/flamingo.py        (writes both golden files)
     /usr/bin/python3 testdata/gen/flamingo.py bench  times PyTorch (one thread, median ms) on
     the sizes of the Go benchmarks, to run alternately with
     go test -run X -bench . -cpu 1 ./resampler/ ./gating/
"""
import math
import sys
import time

import torch
import torch.nn as nn

from goldens import save, grads

FMAX = torch.finfo(torch.float32).max


# ---------------------------------------------------------------- shared (identical in O and L)
def FeedForward(dim, mult=4):
    inner = int(dim * mult)
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, inner, bias=False), nn.GELU(),
                         nn.Linear(inner, dim, bias=False))


def split_heads(t, h):  # '... n (h d) -> ... h n d'
    *lead, n, hd = t.shape
    return t.reshape(*lead, n, h, hd // h).transpose(-3, -2)


def merge_heads(t):  # '... h n d -> ... n (h d)'
    t = t.transpose(-3, -2)
    *lead, n, h, d = t.shape
    return t.reshape(*lead, n, h * d)


class PerceiverAttention(nn.Module):
    def __init__(self, *, dim, dim_head=64, heads=8):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        inner = dim_head * heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x, latents):  # x (b, T, n1, D), latents (b, T, n2, D)
        x = self.norm_media(x)
        latents = self.norm_latents(latents)
        h = self.heads
        q = self.to_q(latents)
        kv_input = torch.cat((x, latents), dim=-2)
        k, v = self.to_kv(kv_input).chunk(2, dim=-1)
        q, k, v = split_heads(q, h), split_heads(k, h), split_heads(v, h)  # b T h n d
        q = q * self.scale
        sim = q @ k.transpose(-1, -2)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        return self.to_out(merge_heads(attn @ v))


class OPerceiverResampler(nn.Module):
    def __init__(self, *, dim, depth=6, dim_head=64, heads=8, num_latents=64, max_num_media=None,
                 max_num_frames=None, ff_mult=4):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.frame_embs = nn.Parameter(torch.randn(max_num_frames, dim)) if max_num_frames else None
        self.media_time_embs = nn.Parameter(torch.randn(max_num_media, 1, dim)) if max_num_media else None
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads),
                                              FeedForward(dim=dim, mult=ff_mult)]))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):  # (b, T, F, v, D)
        b, T, F, v = x.shape[:4]
        if self.frame_embs is not None:
            x = x + self.frame_embs[:F][None, None, :, None, :].expand(b, T, F, v, -1)
        x = x.reshape(b, T, F * v, x.shape[-1])
        if self.media_time_embs is not None:
            x = x + self.media_time_embs[:T]
        latents = self.latents[None, None].expand(b, T, -1, -1)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm(latents)


class LPerceiverResampler(nn.Module):
    def __init__(self, *, dim, depth, dim_head=64, heads=8, num_latents=64, num_media_embeds=4, ff_mult=4):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.media_pos_emb = nn.Parameter(torch.randn(num_media_embeds, 1, dim))
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            self.layers.append(nn.ModuleList([PerceiverAttention(dim=dim, dim_head=dim_head, heads=heads),
                                              FeedForward(dim=dim, mult=ff_mult)]))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        if x.ndim == 3:
            x = x[:, None]  # 'b n d -> b 1 n d'
        times = x.shape[1]
        x = x + self.media_pos_emb[:times]
        latents = self.latents[None, None].expand(x.shape[0], x.shape[1], -1, -1)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm(latents)


class OMaskedCrossAttention(nn.Module):
    def __init__(self, *, dim, dim_visual, dim_head=64, heads=8, only_attend_immediate_media=True):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)
        self.only_attend_immediate_media = only_attend_immediate_media

    def forward(self, x, media, media_locations=None, use_cached_media=False):
        if not use_cached_media:
            assert media_locations.shape[1] == x.shape[1]
        T_txt = x.shape[1]
        _, T_img, n = media.shape[:3]
        h = self.heads
        x = self.norm(x)
        q = self.to_q(x)
        media = media.reshape(media.shape[0], T_img * n, media.shape[-1])
        k, v = self.to_kv(media).chunk(2, dim=-1)
        q, k, v = split_heads(q, h), split_heads(k, h), split_heads(v, h)
        q = q * self.scale
        sim = q @ k.transpose(-1, -2)
        if media_locations is not None:
            media_time = torch.arange(T_img) + 1
            if use_cached_media:
                text_time = torch.count_nonzero(media_locations, dim=1)[:, None].expand(-1, T_txt)
            else:
                text_time = media_locations.cumsum(dim=-1)
            mask_op = torch.eq if self.only_attend_immediate_media else torch.ge
            text_to_media_mask = mask_op(text_time[:, None, :, None],
                                         media_time.repeat_interleave(n)[None, None, None, :])
            sim = sim.masked_fill(~text_to_media_mask, -torch.finfo(sim.dtype).max)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        if media_locations is not None and self.only_attend_immediate_media:
            text_without_media_mask = (text_time == 0)[:, None, :, None]
            attn = attn.masked_fill(text_without_media_mask, 0.0)
        return self.to_out(merge_heads(attn @ v))


class OGatedCrossAttentionBlock(nn.Module):
    def __init__(self, *, dim, dim_visual, dim_head=64, heads=8, ff_mult=4, only_attend_immediate_media=True):
        super().__init__()
        self.attn = OMaskedCrossAttention(dim=dim, dim_visual=dim_visual, dim_head=dim_head, heads=heads,
                                          only_attend_immediate_media=only_attend_immediate_media)
        self.attn_gate = nn.Parameter(torch.tensor([0.0]))
        self.ff = FeedForward(dim, mult=ff_mult)
        self.ff_gate = nn.Parameter(torch.tensor([0.0]))

    def forward(self, x, media, media_locations=None, use_cached_media=False):
        x = self.attn(x, media, media_locations=media_locations, use_cached_media=use_cached_media) \
            * self.attn_gate.tanh() + x
        x = self.ff(x) * self.ff_gate.tanh() + x
        return x


class LMaskedCrossAttention(nn.Module):
    def __init__(self, *, dim, dim_head=64, heads=8, only_attend_immediate_media=True):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)
        self.only_attend_immediate_media = only_attend_immediate_media

    def forward(self, x, media, media_locations=None):
        b, t, m = media.shape[:3]
        h = self.heads
        x = self.norm(x)
        q = self.to_q(x)
        media = media.reshape(b, t * m, media.shape[-1])
        k, v = self.to_kv(media).chunk(2, dim=-1)
        q, k, v = split_heads(q, h), split_heads(k, h), split_heads(v, h)
        q = q * self.scale
        sim = q @ k.transpose(-1, -2)
        if media_locations is not None:
            text_time = media_locations.cumsum(dim=-1)
            media_time = torch.arange(t) + 1
            mask_op = torch.eq if self.only_attend_immediate_media else torch.ge
            text_to_media_mask = mask_op(text_time[:, None, :, None],
                                         media_time.repeat_interleave(m)[None, None, None, :])
            sim = sim.masked_fill(~text_to_media_mask, -torch.finfo(sim.dtype).max)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        if media_locations is not None and self.only_attend_immediate_media:
            text_without_media_mask = (text_time == 0)[:, None, :, None]
            attn = attn.masked_fill(text_without_media_mask, 0.0)
        return self.to_out(merge_heads(attn @ v))


class LGatedCrossAttentionBlock(nn.Module):
    def __init__(self, *, dim, dim_head=64, heads=8, ff_mult=4, only_attend_immediate_media=True):
        super().__init__()
        self.attn = LMaskedCrossAttention(dim=dim, dim_head=dim_head, heads=heads,
                                          only_attend_immediate_media=only_attend_immediate_media)
        self.attn_gate = nn.Parameter(torch.tensor([0.0]))
        self.ff = FeedForward(dim, mult=ff_mult)
        self.ff_gate = nn.Parameter(torch.tensor([0.0]))

    def forward(self, x, media, media_locations=None):
        x = self.attn(x, media, media_locations=media_locations) * self.attn_gate.tanh() + x
        x = self.ff(x) * self.ff_gate.tanh() + x
        return x


# ---------------------------------------------------------------- a small frozen LM (HF OPT layer, pre-LN)
class OPTAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        b, t, d = x.shape
        q = split_heads(self.q_proj(x) * (d // self.h) ** -0.5, self.h)
        k, v = split_heads(self.k_proj(x), self.h), split_heads(self.v_proj(x), self.h)
        s = q @ k.transpose(-1, -2)
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        s = s + torch.zeros(t, t).masked_fill(causal, torch.finfo(torch.float32).min)
        return self.out_proj(merge_heads(s.softmax(-1) @ v))


class OPTDecoderLayer(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.self_attn = OPTAttention(d, h)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, x):
        x = x + self.self_attn(self.self_attn_layer_norm(x))
        return x + self.fc2(torch.relu(self.fc1(self.final_layer_norm(x))))


class FlamingoLayer(nn.Module):  # O flamingo_lm.py, with media conditioned as arguments
    def __init__(self, gated_cross_attn_layer, decoder_layer):
        super().__init__()
        self.gated_cross_attn_layer = gated_cross_attn_layer
        self.decoder_layer = decoder_layer

    def forward(self, x, vis_x, media_locations):
        if self.gated_cross_attn_layer is not None:
            x = self.gated_cross_attn_layer(x, vis_x, media_locations=media_locations)
        return self.decoder_layer(x)


# ---------------------------------------------------------------- benchmark
def bench():
    torch.set_num_threads(1)

    def median_ms(f, n=15):
        for _ in range(2):
            f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    res = OPerceiverResampler(dim=1024, depth=6, dim_head=64, heads=8, num_latents=64)
    x = torch.randn(1, 1, 1, 257, 1024)
    r = torch.randn(1, 1, 64, 1024)
    with torch.no_grad():
        print("Resampler forward                  %.1f ms" % median_ms(lambda: res(x)))

    def res_step():
        res.zero_grad()
        (res(x) * r).sum().backward()
    print("Resampler training step            %.1f ms" % median_ms(res_step))

    blk = OGatedCrossAttentionBlock(dim=1024, dim_visual=1024)
    with torch.no_grad():
        blk.attn_gate.fill_(0.5)
        blk.ff_gate.fill_(0.5)
    xt = torch.randn(1, 128, 1024)
    media = torch.randn(1, 1, 64, 1024)
    loc = torch.zeros(1, 128, dtype=torch.bool)
    loc[0, 0] = True
    rt = torch.randn(1, 128, 1024)
    with torch.no_grad():
        print("Gated block forward                %.1f ms" % median_ms(lambda: blk(xt, media, loc), 30))

    def blk_step():
        blk.zero_grad()
        (blk(xt, media, loc) * rt).sum().backward()
    print("Gated block training step          %.1f ms" % median_ms(blk_step, 30))


def goldens():
    # ---------------------------------------------------------------- goldens
    def randomize(m):
        """LayerNorms away from (1, 0) so that their gradients are tested too."""
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, nn.LayerNorm):
                    mod.weight.normal_(1, 0.2)
                    mod.bias.normal_(0, 0.2)


    def set_gates(m, attn, ff):
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, (OGatedCrossAttentionBlock, LGatedCrossAttentionBlock)):
                    mod.attn_gate.fill_(attn)
                    mod.ff_gate.fill_(ff)


    class Group:
        def __init__(self, out, prefix):
            self.out, self.prefix = out, prefix

        def put(self, **kw):
            for k, v in kw.items():
                self.out[self.prefix + "." + k] = v

        def params(self, module):
            for n, p in module.named_parameters():
                self.out[self.prefix + ".p." + n] = p.detach().clone()

        def grads(self, module):
            self.out.update({k: v.clone() for k, v in grads(self.prefix + ".g.", module.named_parameters()).items()})

        def backward(self, y):
            r = torch.randn(y.shape)
            self.put(r=r)
            (y * r).sum().backward()


    D = 16

    # resampler
    torch.manual_seed(1)
    res = {}
    g = Group(res, "o")
    m = OPerceiverResampler(dim=D, depth=2, dim_head=8, heads=2, num_latents=3, max_num_media=3, max_num_frames=3)
    randomize(m)
    g.params(m)
    x = torch.randn(2, 2, 2, 3, D, requires_grad=True)
    y = m(x)
    g.backward(y)
    g.put(x=x, y=y, dx=x.grad)
    g.grads(m)

    g = Group(res, "o_plain")
    m = OPerceiverResampler(dim=D, depth=2, dim_head=8, heads=2, num_latents=3)
    randomize(m)
    g.params(m)
    x = torch.randn(1, 2, 1, 5, D, requires_grad=True)
    y = m(x)
    g.backward(y)
    g.put(x=x, y=y, dx=x.grad)
    g.grads(m)

    m = LPerceiverResampler(dim=D, depth=2, dim_head=8, heads=2, num_latents=3, num_media_embeds=4)
    randomize(m)
    for tag, shape in (("l4", (2, 3, 4, D)), ("l3", (2, 4, D))):
        g = Group(res, tag)
        m.zero_grad()
        g.params(m)
        x = torch.randn(*shape, requires_grad=True)
        y = m(x)
        g.backward(y)
        g.put(x=x, y=y, dx=x.grad)
        g.grads(m)
    save("resampler/testdata/resampler.safetensors", res)

    # gating
    torch.manual_seed(2)
    gat = {}
    # t <img> t t <img> t t   |   <img> t <img> t <img> t t  (three <image> tokens, two media)
    LOC = torch.tensor([[0, 1, 0, 0, 1, 0, 0], [1, 0, 1, 0, 1, 0, 0]], dtype=torch.bool)
    DV, TI, N = 12, 2, 3


    def block_case(tag, blk, dv, cached=False):
        g = Group(gat, tag)
        randomize(blk)
        set_gates(blk, 0.7, -0.4)
        g.params(blk)
        tt = 2 if cached else LOC.shape[1]
        x = torch.randn(2, tt, D, requires_grad=True)
        media = torch.randn(2, TI, N, dv, requires_grad=True)
        if cached:
            loc = torch.tensor([[0, 1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
            y = blk(x, media, media_locations=loc, use_cached_media=True)
        else:
            loc = LOC
            y = blk(x, media, media_locations=loc)
        g.backward(y)
        g.put(x=x, media=media, locations=loc.long(), y=y, dx=x.grad, dmedia=media.grad)
        g.grads(blk)


    block_case("o_imm", OGatedCrossAttentionBlock(dim=D, dim_visual=DV, dim_head=8, heads=2), DV)
    block_case("o_all", OGatedCrossAttentionBlock(dim=D, dim_visual=DV, dim_head=8, heads=2,
                                                  only_attend_immediate_media=False), DV)
    block_case("o_cached", OGatedCrossAttentionBlock(dim=D, dim_visual=DV, dim_head=8, heads=2), DV, cached=True)
    block_case("l_imm", LGatedCrossAttentionBlock(dim=D, dim_head=8, heads=2), D)
    block_case("l_all", LGatedCrossAttentionBlock(dim=D, dim_head=8, heads=2, only_attend_immediate_media=False), D)

    # A frozen 4-layer LM, wrapped by each reference's placement rule.
    lm = nn.ModuleList([OPTDecoderLayer(D, 2) for _ in range(4)])
    randomize(lm)
    for p in lm.parameters():
        p.requires_grad_(False)
    x0 = torch.randn(2, LOC.shape[1], D)
    media0 = torch.randn(2, TI, N, D)

    g = Group(gat, "stack_o")
    every = 2
    o_model = nn.Module()  # holds the LM's decoder-layer list, as model.decoder does in OPT
    o_model.layers = nn.ModuleList([
        FlamingoLayer(OGatedCrossAttentionBlock(dim=D, dim_visual=D, dim_head=8, heads=2)
                      if (i + 1) % every == 0 else None, lm[i]) for i in range(4)])
    o_layers = o_model.layers
    randomize(nn.ModuleList([l.gated_cross_attn_layer for l in o_layers if l.gated_cross_attn_layer is not None]))
    set_gates(o_layers, 0.5, 0.3)
    g.params(o_model)
    x = x0.clone().requires_grad_(True)
    media = media0.clone().requires_grad_(True)
    h = x
    for layer in o_layers:
        h = layer(h, media, LOC)
    g.backward(h)
    g.put(x=x, media=media, locations=LOC.long(), y=h, dx=x.grad, dmedia=media.grad)
    g.grads(o_model)

    g = Group(gat, "stack_l")
    every = 3
    l_model = nn.Module()  # FlamingoPaLM's layers attribute
    l_model.layers = nn.ModuleList([
        nn.ModuleList([lm[i], LGatedCrossAttentionBlock(dim=D, dim_head=8, heads=2)
                       if not (i % every) else None]) for i in range(4)])
    l_layers = l_model.layers
    randomize(nn.ModuleList([blk for _, blk in l_layers if blk is not None]))
    set_gates(l_layers, -0.6, 0.8)
    g.params(l_model)
    x = x0.clone().requires_grad_(True)
    media = media0.clone().requires_grad_(True)
    h = x
    for layer, blk in l_layers:
        h = layer(h)
        if blk is not None:
            h = blk(h, media, media_locations=LOC)
    g.backward(h)
    g.put(x=x, media=media, locations=LOC.long(), y=h, dx=x.grad, dmedia=media.grad)
    g.grads(l_model)
    save("gating/testdata/gating.safetensors", gat)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        bench()
    else:
        goldens()
