"""PyTorch counterparts of the blocks that internal/cmd/benchvs times, built from the
plain-torch reference models of the golden generators (qformer.py, flamingo.py, vit.py,
lstmcaption.py) at the published configurations, with random weights.

Blocks (the names benchvs uses):
  gemm/MxKxN        torch.mm of [M, K] by [K, N] into a preallocated output
  qformer/B=1, B=8  BLIP-2 Q-Former query pass over 257x1408 image features, no grad
  qformer-train/B=1 the same pass for one image, then backward of its sum (zeroed grads first)
  resampler         OpenFlamingo Perceiver resampler (dim 1024, depth 6, 64 latents, 8x64 heads)
                    on one image of 257 tokens, no grad
  resampler-train   the same, then backward of sum(y * r) (zeroed grads first)
  gated             OpenFlamingo gated cross-attention block (dim 1024, 128 text tokens, one
                    image of 64 visual tokens, keys and values of the media every call), no grad
  gated-train       the same block, then backward of sum(y * r) (zeroed grads first)
  vit-b16           CLIP ViT-B/16 vision model with projection, one 224 px image, no grad
  sat-greedy        Show-Attend-Tell greedy decoding of 20 words over 14x14x2048 features
                    (decoder 512, vocabulary 10000), encoder_att once per image and the
                    log-softmax scores, as package lstmcaption decodes
  lm-token          one decoding step of an OPT-like LM (package lm's benchmark model: width
                    512, 8 layers of 8 heads, FFN 2048, vocabulary 8192) over a KV cache that a
                    128-token prompt filled and every call extends (HF past_key_values), no grad
  llava-projector   LLaVA-1.5's mlp2x_gelu projector on 576 tokens, 1024 -> 4096 -> 4096, no grad

Run: /usr/bin/python3 testdata/gen/bench_torch.py [block ...]   median ms of each block
     /usr/bin/python3 testdata/gen/bench_torch.py serve         the protocol benchvs speaks:
         one JSON request per line on stdin, {"block": name, "iters": n}, answered by one
         line {"ms": [n times]} after one untimed warm-up call (or {"error": text})

Threads: torch.set_num_threads(1) always; the BLAS threads come from OPENBLAS_NUM_THREADS.
PyTorch runs its matrix products through libblas.so.3: run with
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread (package libopenblas0-pthread) to get
OpenBLAS rather than the reference BLAS the system alternative may point at; the "blas" field
of the first line says which library was loaded.
"""
import json
import sys
import time

import torch

import flamingo
import lstmcaption
import qformer
import vit


def gemm(m, k, n):
    a, b, c = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    return lambda: torch.mm(a, b, out=c)


def blip2():
    c = qformer.Cfg(D=768, L=12, H=12, I=3072, freq=2, W=1408, Q=32, V=30523, P=512, E=256, lm=2560, dec=30522)
    return qformer.Model(c).eval()


def qformer_forward(m, b):
    img = torch.randn(b, 257, 1408)

    def run():
        with torch.no_grad():
            m.bert(query_embeds=m.queries(b), image=img)
    return run


def qformer_train(m):
    img = torch.randn(1, 257, 1408)

    def run():
        qformer.zero_grads(m)
        h, _ = m.bert(query_embeds=m.queries(1), image=img)
        h.sum().backward()
    return run


def resampler():
    m = flamingo.OPerceiverResampler(dim=1024, depth=6, dim_head=64, heads=8, num_latents=64).eval()
    x = torch.randn(1, 1, 1, 257, 1024)

    def run():
        with torch.no_grad():
            m(x)
    return run


def resampler_train():
    m = flamingo.OPerceiverResampler(dim=1024, depth=6, dim_head=64, heads=8, num_latents=64)
    x = torch.randn(1, 1, 1, 257, 1024)
    r = torch.randn(1, 1, 64, 1024)

    def run():
        m.zero_grad()
        (m(x) * r).sum().backward()
    return run


def gated():
    blk = flamingo.OGatedCrossAttentionBlock(dim=1024, dim_visual=1024).eval()
    with torch.no_grad():
        blk.attn_gate.fill_(0.5)
        blk.ff_gate.fill_(0.5)
    x = torch.randn(1, 128, 1024)
    media = torch.randn(1, 1, 64, 1024)
    loc = torch.zeros(1, 128, dtype=torch.bool)
    loc[0, 0] = True

    def run():
        with torch.no_grad():
            blk(x, media, loc)
    return run


def gated_train():
    blk = flamingo.OGatedCrossAttentionBlock(dim=1024, dim_visual=1024)
    with torch.no_grad():
        blk.attn_gate.fill_(0.5)
        blk.ff_gate.fill_(0.5)
    x = torch.randn(1, 128, 1024)
    media = torch.randn(1, 1, 64, 1024)
    loc = torch.zeros(1, 128, dtype=torch.bool)
    loc[0, 0] = True
    r = torch.randn(1, 128, 1024)

    def run():
        blk.zero_grad()
        (blk(x, media, loc) * r).sum().backward()
    return run


class OPTLayer(torch.nn.Module):
    """HF OPTDecoderLayer (pre-LN, relu), as testdata/gen/lm.py builds it."""

    def __init__(self, d, h, ffn):
        super().__init__()
        nn = torch.nn
        self.h, self.dh = h, d // h
        self.scaling = self.dh ** -0.5
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        self.self_attn_layer_norm, self.final_layer_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x, cache, mask=None):
        """x [1, T, D] after the cached positions; cache (k, v) [1, H, P, Dh] or None."""
        b, t, d = x.shape
        sp = lambda z: z.view(b, t, self.h, self.dh).transpose(1, 2)
        y = self.self_attn_layer_norm(x)
        q = sp(self.q_proj(y) * self.scaling)
        k, v = sp(self.k_proj(y)), sp(self.v_proj(y))
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out_proj(a)
        x = x + self.fc2(torch.relu(self.fc1(self.final_layer_norm(x))))
        return x, (k, v)


def lm_token():
    V, D, H, L, P = 8192, 512, 8, 8, 128
    nn = torch.nn
    tokens, positions = nn.Embedding(V, D), nn.Embedding(512 + 2, D)
    layers = [OPTLayer(D, H, 4 * D).eval() for _ in range(L)]
    final = nn.LayerNorm(D)
    ids = torch.randint(0, V, (1, P))
    cache = [None] * L
    with torch.no_grad():
        h = tokens(ids) + positions(torch.arange(P) + 2)
        causal = (1 - torch.ones(P, P).tril()) * torch.finfo(torch.float32).min
        for i, layer in enumerate(layers):
            h, cache[i] = layer(h, None, causal)
    state = {"n": P}

    def run():
        with torch.no_grad():
            n = state["n"]
            h = tokens(torch.tensor([[7]])) + positions.weight[n + 2]
            for i, layer in enumerate(layers):
                h, cache[i] = layer(h, cache[i])
            torch.nn.functional.linear(final(h), tokens.weight)  # tied lm_head
            state["n"] = n + 1
    return run


def llava_projector():
    nn = torch.nn
    p = nn.Sequential(nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 4096)).eval()
    x = torch.randn(1, 576, 1024)

    def run():
        with torch.no_grad():
            p(x)
    return run


def vit_b16():
    vit.use_b16()
    m = vit.CLIPVisionModelWithProjection().eval()
    pixels = torch.randn(1, 3, 224, 224)

    def run():
        with torch.no_grad():
            m(pixels)
    return run


def sat_greedy():
    dec = lstmcaption.DecoderWithAttention(512, 512, 512, 10000).eval()
    enc = torch.randn(1, 196, 2048)

    def run():
        with torch.no_grad():
            h, c = dec.init_hidden_state(enc)
            att1 = dec.attention.encoder_att(enc)
            w = torch.zeros(1, dtype=torch.long)
            score = torch.zeros(1)
            for _ in range(20):
                att2 = dec.attention.decoder_att(h)
                e = dec.attention.full_att(torch.relu(att1 + att2.unsqueeze(1))).squeeze(2)
                alpha = e.softmax(dim=1)
                awe = (enc * alpha.unsqueeze(2)).sum(dim=1)
                awe = dec.sigmoid(dec.f_beta(h)) * awe
                h, c = dec.decode_step(torch.cat([dec.embedding(w), awe], dim=1), (h, c))
                s, w = torch.log_softmax(dec.fc(h), dim=1).max(dim=1)
                score += s
    return run


# name -> (model key or None, make(model) -> run). Blocks with the same model key share one
# model; only the model of the current key is kept.
BLOCKS = {
    "gemm/1024x1024x1024": (None, lambda _: gemm(1024, 1024, 1024)),
    "gemm/32x768x768": (None, lambda _: gemm(32, 768, 768)),
    "gemm/257x1408x768": (None, lambda _: gemm(257, 1408, 768)),
    "gemm/32x768x3072": (None, lambda _: gemm(32, 768, 3072)),
    "qformer/B=1": ("blip2", lambda m: qformer_forward(m, 1)),
    "qformer/B=8": ("blip2", lambda m: qformer_forward(m, 8)),
    "qformer-train/B=1": ("blip2", qformer_train),
    "resampler": (None, lambda _: resampler()),
    "resampler-train": (None, lambda _: resampler_train()),
    "gated": (None, lambda _: gated()),
    "gated-train": (None, lambda _: gated_train()),
    "vit-b16": (None, lambda _: vit_b16()),
    "sat-greedy": (None, lambda _: sat_greedy()),
    "lm-token": (None, lambda _: lm_token()),
    "llava-projector": (None, lambda _: llava_projector()),
}
MODELS = {"blip2": blip2}


class Runner:
    def __init__(self):
        self.key, self.model, self.runs = None, None, {}

    def get(self, name):
        if name not in BLOCKS:
            raise KeyError("unknown block %r (known: %s)" % (name, ", ".join(BLOCKS)))
        key, make = BLOCKS[name]
        if name in self.runs:
            return self.runs[name]
        self.runs.clear()
        if key != self.key:
            self.key, self.model = None, None
            if key is not None:
                torch.manual_seed(0)
                self.key, self.model = key, MODELS[key]()
        torch.manual_seed(1)
        self.runs[name] = make(self.model)
        return self.runs[name]

    def times(self, name, iters):
        run = self.get(name)
        run()
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter()
            run()
            ts.append((time.perf_counter() - t0) * 1e3)
        return ts


def blas_library():
    """The BLAS shared library mapped into this process."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line}
    return ", ".join(sorted(libs)) or "none"


def serve():
    torch.set_num_threads(1)
    r = Runner()
    print(json.dumps({"torch": torch.__version__, "blas": blas_library()}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            print(json.dumps({"ms": r.times(req["block"], int(req["iters"]))}), flush=True)
        except Exception as e:  # report to the driver, keep serving
            print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}), flush=True)


def main(names):
    torch.set_num_threads(1)
    r = Runner()
    print("torch %s, BLAS %s, median ms" % (torch.__version__, blas_library()))
    for name in names or BLOCKS:
        ts = sorted(r.times(name, 5))
        print("%-22s %9.2f" % (name, ts[len(ts) // 2]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    else:
        main(sys.argv[1:])
