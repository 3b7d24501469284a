"""Golden values for package lm: a plain-torch re-implementation of HF
transformers' OPTForCausalLM (modeling_opt.py: OPTLearnedPositionalEmbedding
with its offset of 2, OPTAttention, pre-LN OPTDecoderLayer, OPTDecoder with
final_layer_norm, lm_head tied to embed_tokens, the shifted causal-LM loss),
with PyTorch 1.13 autograd gradients.

Groups (prefix of every tensor name):
  ids     token ids, right padding, positions from the attention mask, relu,
          tied head, padding_idx 1; loss on labels with -100 on the prompt and padding
  embeds  inputs_embeds (as LLaVA's splice makes them), left padding, explicit
          position_ids starting after the pad, gelu, untied lm_head; gradient of
          the input embeddings

<prefix>.p.<name> are the parameters under OPT's state_dict keys, <prefix>.g.<name>
their gradients. The mask is the HF 4-D causal + padding mask filled with finfo.min.

Run: /usr/bin/python3 testdata/gen/lm.py  (writes lm/testdata/lm.safetensors)

     /usr/bin/python3 testdata/gen/lm.py bench  times PyTorch (one thread, no grad, median ms)
     on the sizes of the Go benchmarks, to run alternately with
     go test -run X -bench . -cpu 1 ./lm/
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from goldens import save, grads

torch.manual_seed(0)
out = {}
FMIN = torch.finfo(torch.float32).min


class OPTLearnedPositionalEmbedding(nn.Embedding):
    offset = 2

    def __init__(self, n, d):
        super().__init__(n + self.offset, d)

    def forward(self, attention_mask, position_ids=None):
        if position_ids is None:
            position_ids = (torch.cumsum(attention_mask, dim=1) * attention_mask).long() - 1
        return super().forward(position_ids + self.offset)


class OPTAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.scaling = self.dh ** -0.5
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, mask):
        b, n, d = x.shape
        sp = lambda t: t.view(b, n, self.h, self.dh).transpose(1, 2)
        q = sp(self.q_proj(x) * self.scaling)
        k, v = sp(self.k_proj(x)), sp(self.v_proj(x))
        w = (q @ k.transpose(-1, -2) + mask).softmax(-1)
        return self.out_proj((w @ v).transpose(1, 2).reshape(b, n, d))


class OPTDecoderLayer(nn.Module):
    def __init__(self, d, h, ffn, act):
        super().__init__()
        self.self_attn = OPTAttention(d, h)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = act

    def forward(self, x, mask):
        x = x + self.self_attn(self.self_attn_layer_norm(x), mask)
        return x + self.fc2(self.act(self.fc1(self.final_layer_norm(x))))


class OPTDecoder(nn.Module):
    def __init__(self, vocab, d, h, layers, ffn, max_pos, pad, act):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d, padding_idx=pad)
        self.embed_positions = OPTLearnedPositionalEmbedding(max_pos, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.layers = nn.ModuleList([OPTDecoderLayer(d, h, ffn, act) for _ in range(layers)])


class OPTForCausalLM(nn.Module):
    def __init__(self, vocab, d, h, layers, ffn, max_pos, pad, act, tied):
        super().__init__()
        self.model = nn.Module()
        self.model.decoder = OPTDecoder(vocab, d, h, layers, ffn, max_pos, pad, act)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.lm_head.weight = self.model.decoder.embed_tokens.weight

    def forward(self, attention_mask, labels, input_ids=None, inputs_embeds=None, position_ids=None):
        dec = self.model.decoder
        if inputs_embeds is None:
            inputs_embeds = dec.embed_tokens(input_ids)
        h = inputs_embeds + dec.embed_positions(attention_mask, position_ids)
        t = h.shape[1]
        causal = torch.ones(t, t).tril()
        keep = causal[None, None] * attention_mask[:, None, None, :].float()
        mask = (1 - keep) * FMIN
        for layer in dec.layers:
            h = layer(h, mask)
        logits = self.lm_head(dec.final_layer_norm(h))
        v = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, v), labels[:, 1:].reshape(-1))
        return logits, loss


def bench():
    torch.set_num_threads(1)
    V, D, H, L, P = 8192, 512, 8, 8, 128

    def median_ms(f, n=10):
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    m = OPTForCausalLM(V, D, H, L, 4 * D, 512, 1, torch.relu, True).eval()
    dec = m.model.decoder
    ids = torch.randint(0, V, (1, P))

    def prefill():
        mask = torch.ones(1, P)
        h = dec.embed_tokens(ids) + dec.embed_positions(mask)
        causal = (1 - torch.ones(P, P).tril()) * FMIN
        for layer in dec.layers:
            h = layer(h, causal)
        return m.lm_head(dec.final_layer_norm(h))

    def step(cache, pos):  # one token over a KV cache, as HF's past_key_values
        h = dec.embed_tokens(torch.tensor([[7]])) + dec.embed_positions.weight[pos + 2]
        for i, layer in enumerate(dec.layers):
            a = layer.self_attn
            x = layer.self_attn_layer_norm(h)
            sp = lambda t: t.view(1, -1, a.h, a.dh).transpose(1, 2)
            q = sp(a.q_proj(x) * a.scaling)
            k, v = cache[i]
            k, v = torch.cat([k, sp(a.k_proj(x))], 2), torch.cat([v, sp(a.v_proj(x))], 2)
            cache[i] = (k, v)
            w = (q @ k.transpose(-1, -2)).softmax(-1)
            h = h + a.out_proj((w @ v).transpose(1, 2).reshape(1, 1, D))
            h = h + layer.fc2(layer.act(layer.fc1(layer.final_layer_norm(h))))
        return m.lm_head(dec.final_layer_norm(h))

    def decode64():
        cache = [(torch.randn(1, H, P, D // H), torch.randn(1, H, P, D // H)) for _ in range(L)]
        for t in range(64):
            step(cache, P + t)

    with torch.no_grad():
        print("torch %s, 1 thread, median ms" % torch.__version__)
        print("Forward [1,128] 512x8 V8192   %.1f" % median_ms(prefill))
        print("GenerateToken (ctx 128-192)   %.2f" % (median_ms(decode64, 5) / 64))


if len(sys.argv) > 1 and sys.argv[1] == "bench":
    bench()
    sys.exit(0)


def randomize(m):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.normal_(1, 0.2)
                mod.bias.normal_(0, 0.2)
        for n, p in m.named_parameters():
            if "embed" in n or "lm_head" in n:
                p.normal_(0, 0.5)


V, D, NH, L, FFN, MAXPOS, PAD = 23, 16, 4, 2, 24, 12, 1


def case(prefix, act, tied, embeds, mask, labels, ids=None, position_ids=None):
    m = OPTForCausalLM(V, D, NH, L, FFN, MAXPOS, PAD, act, tied)
    randomize(m)
    for n, p in m.named_parameters():
        out[prefix + ".p." + n] = p.detach().clone()
    x = None
    if embeds:
        x = (torch.randn(mask.shape[0], mask.shape[1], D) * 0.5).requires_grad_()
    logits, loss = m(mask, labels, input_ids=ids, inputs_embeds=x, position_ids=position_ids)
    loss.backward()
    out.update({prefix + ".mask": mask, prefix + ".labels": labels, prefix + ".logits": logits,
                prefix + ".loss": loss})
    if ids is not None:
        out[prefix + ".ids"] = ids
    if x is not None:
        out[prefix + ".x"], out[prefix + ".dx"] = x, x.grad
    if position_ids is not None:
        out[prefix + ".positions"] = position_ids
    out.update(grads(prefix + ".g.", m.named_parameters()))


# Right padding: sample 1 has 5 of 7 tokens; prompt = the first two tokens.
ids = torch.randint(2, V, (2, 7))
ids[1, 5:] = PAD
mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
labels = ids.clone()
labels[:, :2] = -100
labels[mask == 0] = -100
case("ids", torch.relu, True, False, mask, labels, ids=ids)

# Left padding of input embeddings with LLaVA's position ids (0 after the pad,
# 0 on the pad); labels -100 on the pad and on the first real position.
mask = torch.tensor([[1] * 8, [0] * 3 + [1] * 5, [0] * 1 + [1] * 7])
pos = torch.zeros(3, 8, dtype=torch.long)
labels = torch.randint(0, V, (3, 8))
for b in range(3):
    n = int(mask[b].sum())
    pos[b, 8 - n:] = torch.arange(n)
    labels[b, :8 - n + 1] = -100
case("embeds", nn.GELU(), False, True, mask, labels, position_ids=pos)

save("lm/testdata/lm.safetensors", out)
