"""Golden values for package qformer: a plain-torch BLIP-2 Q-Former with Hugging Face
transformers' parameter names, its forward pass as LAVIS's BertModel.forward computes it
(lavis/models/blip2_models/Qformer.py) and the stage-1 losses as LAVIS's
Blip2Qformer.forward computes them on one machine (blip2_qformer.py), with PyTorch 1.13
autograd gradients. Everything follows /work/shared/reference/04-qformer-blip2.md and
05-instructblip.md.

Files (tiny config: D 16, 3 layers, 4 heads, FFN 32, cross-attention every 2nd layer into
12-wide image features, 3 queries, vocabulary 31 with [DEC] = 30, [PAD] = 0):

  qformer/testdata/forward.safetensors
    hf.<name>                 weights under HF BLIP-2 names (Blip2ForImageTextRetrieval
                              + temp + cls.predictions + language_projection)
    image, image_mask, ids, text_mask
                              3 images of 5 tokens (the last image with 2 padded tokens),
                              3 texts of 5 tokens padded to lengths 5, 4, 3
    <mode>.{y,r,dimage,g.<name>}
                              queries + text in one pass under mode unimodal,
                              bidirectional or causal; y the last hidden state, loss sum(y*r)
    query_only.y, text_only.y one pass of queries only / text only
    instruct.p.<name>, instruct.{ids,text_mask,y,proj,r,dimage,g.<name>}
                              the same weights under HF InstructBLIP names: queries + an
                              instruction, bidirectional, query outputs kept, then
                              language_projection; loss sum(proj*r)
    generate.ids              greedy captions of the 3 images, 6 tokens at most, EOS 2,
                              decoded as LAVIS generate does (first step a full pass of
                              queries + [DEC], then the KV cache)

  qformer/testdata/losses.safetensors
    lavis.<name>              the weights under LAVIS names (Qformer.bert.*, Qformer.cls.*,
                              vision_proj, ...), plus Qformer.bert.embeddings.position_ids,
                              ln_vision.* and visual_encoder.cls_token that a load must skip
    image, ids, text_mask     4 image-text pairs
    w_t2i, w_i2t, neg_images, neg_texts
                              the ITM sampling weights and torch.multinomial's draws
    sim_i2t, sim_t2i          temperature-scaled similarities
    <loss>.{value,dimage,g.<name>}  for itc, itm, itg, total: the loss and its gradients
    image_ids, ids_itc.{value,dimage,g.<name>}, ids_w_t2i, ids_w_i2t
                              ITC with LAVIS's image_id soft targets (pairs 0 and 2 share an
                              image) and the ITM weights that mask same-image pairs

Run: /usr/bin/python3 testdata/gen/qformer.py          (writes the two files)
     /usr/bin/python3 testdata/gen/qformer.py bench [quick]
                                                       times this model at the BLIP-2 preset (one
     thread, median ms; quick: forward B=1 and the query training step only), to run
     alternately with  go test -run X -bench . -benchtime 3x -cpu 1 ./qformer/
     PyTorch must run on OpenBLAS, as in PERFORMANCE.md: if Debian's libblas.so.3 alternative
     points to the reference BLAS, prefix LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread
     (and OPENBLAS_NUM_THREADS=1 for a one-thread figure).
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from goldens import save

FMIN = torch.finfo(torch.float32).min


class Cfg:
    def __init__(self, D, L, H, I, freq, W, Q, V, P, E, lm, pad=0, dec=None, eps=1e-12):
        self.D, self.L, self.H, self.I, self.freq, self.W, self.Q = D, L, H, I, freq, W, Q
        self.V, self.P, self.E, self.lm, self.pad, self.eps = V, P, E, lm, pad, eps
        self.dec = V - 1 if dec is None else dec


# ---------------------------------------------------------------- layers (LAVIS Qformer.py)
class SelfAttention(nn.Module):  # BertSelfAttention; HF Blip2QFormerMultiHeadAttention
    def __init__(self, c, kv_width):
        super().__init__()
        self.h, self.dh = c.H, c.D // c.H
        self.query = nn.Linear(c.D, c.D)
        self.key = nn.Linear(kv_width, c.D)
        self.value = nn.Linear(kv_width, c.D)

    def split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.h, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, mask, ctx=None, past=None):
        if ctx is not None:
            k, v = self.split(self.key(ctx)), self.split(self.value(ctx))
        else:
            k, v = self.split(self.key(x)), self.split(self.value(x))
            if past is not None:
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        q = self.split(self.query(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh) + mask
        p = s.softmax(-1)
        out = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
        return out, (k, v)


class Output(nn.Module):  # BertSelfOutput / BertOutput
    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c.D)
        self.LayerNorm = nn.LayerNorm(c.D, eps=c.eps)

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class Attention(nn.Module):  # BertAttention; HF names the inner module "attention"
    def __init__(self, c, kv_width):
        super().__init__()
        self.attention = SelfAttention(c, kv_width)
        self.output = Output(c, c.D)

    def forward(self, x, mask, ctx=None, past=None):
        out, present = self.attention(x, mask, ctx, past)
        return self.output(out, x), present


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.D, c.I)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):  # BertLayer
    def __init__(self, c, i):
        super().__init__()
        self.attention = Attention(c, c.D)
        self.has_cross = i % c.freq == 0
        if self.has_cross:
            self.crossattention = Attention(c, c.W)
        self.intermediate = Intermediate(c)
        self.output = Output(c, c.I)
        self.intermediate_query = Intermediate(c)
        self.output_query = Output(c, c.I)

    def forward(self, h, mask, img, img_mask, query_length, past=None):
        a, present = self.attention(h, mask, past=past)
        if query_length > 0:
            aq = a[:, :query_length]
            if self.has_cross:
                aq, _ = self.crossattention(aq, img_mask, ctx=img)
            out = self.output_query(self.intermediate_query(aq), aq)
            if a.shape[1] > query_length:
                at = a[:, query_length:]
                out = torch.cat([out, self.output(self.intermediate(at), at)], 1)
        else:
            out = self.output(self.intermediate(a), a)
        return out, present


def decoder_mask(attention_mask, T, has_query):
    """LAVIS BertModel.get_extended_attention_mask with is_decoder=True (before the fill)."""
    B = attention_mask.shape[0]
    seq_ids = torch.arange(T)
    causal = (seq_ids[None, None, :].repeat(B, T, 1) <= seq_ids[None, :, None]).float()
    if causal.shape[1] < attention_mask.shape[1]:
        prefix = attention_mask.shape[1] - causal.shape[1]
        if has_query:
            causal = torch.cat([torch.zeros(B, prefix, T), causal], 1)
        causal = torch.cat([torch.ones(B, causal.shape[1], prefix), causal], -1)
    return causal[:, None, :, :] * attention_mask[:, None, None, :]


class Model(nn.Module):
    """HF BLIP-2 names: query_tokens, embeddings.*, qformer.{layernorm,encoder}.*, heads."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.query_tokens = nn.Parameter(torch.zeros(1, c.Q, c.D))
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c.V, c.D, padding_idx=c.pad)
        self.embeddings.position_embeddings = nn.Embedding(c.P, c.D)
        self.qformer = nn.Module()
        self.qformer.layernorm = nn.LayerNorm(c.D, eps=c.eps)
        self.qformer.encoder = nn.Module()
        self.qformer.encoder.layer = nn.ModuleList([Layer(c, i) for i in range(c.L)])
        self.vision_projection = nn.Linear(c.D, c.E)
        self.text_projection = nn.Linear(c.D, c.E)
        self.itm_head = nn.Linear(c.D, 2)
        self.temp = nn.Parameter(0.07 * torch.ones([]))
        self.cls = nn.Module()
        p = self.cls.predictions = nn.Module()
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(c.D, c.D)
        p.transform.LayerNorm = nn.LayerNorm(c.D, eps=c.eps)
        p.bias = nn.Parameter(torch.zeros(c.V))
        p.decoder = nn.Linear(c.D, c.V)
        p.decoder.weight = self.embeddings.word_embeddings.weight  # tied
        p.decoder.bias = p.bias
        self.language_projection = nn.Linear(c.D, c.lm)

    def lm_head(self, h):
        p = self.cls.predictions
        return p.decoder(p.transform.LayerNorm(F.gelu(p.transform.dense(h))))

    def bert(self, input_ids=None, query_embeds=None, attention_mask=None, image=None, image_mask=None,
             is_decoder=False, past=None, keep=None):
        """LAVIS BertModel.forward. keep, if given, is an explicit [B, S, S] keep-mask."""
        c = self.c
        past_len = past[0][0].shape[2] - c.Q if past is not None else 0
        query_length = query_embeds.shape[1] if query_embeds is not None else 0
        if input_ids is not None:
            T = input_ids.shape[1]
            pos = torch.arange(past_len, past_len + T)
            e = self.embeddings.word_embeddings(input_ids) + self.embeddings.position_embeddings(pos)
            if query_embeds is not None:
                e = torch.cat([query_embeds, e], 1)
        else:
            e = query_embeds
        h = self.qformer.layernorm(e)
        B, S = h.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(B, S + past_len)
        if keep is not None:
            ext = keep[:, None]
        elif is_decoder:
            ext = decoder_mask(attention_mask, input_ids.shape[1], query_embeds is not None)
        else:
            ext = attention_mask[:, None, None, :]
        ext = (1.0 - ext) * -10000.0
        img_ext = None
        if image is not None:
            if image_mask is None:
                image_mask = torch.ones(image.shape[:2])
            img_ext = (1.0 - image_mask[:, None, None, :]) * FMIN
        presents = []
        for i, layer in enumerate(self.qformer.encoder.layer):
            h, present = layer(h, ext, image, img_ext, query_length, past[i] if past is not None else None)
            presents.append(present)
        return h, presents

    def queries(self, B):
        return self.query_tokens.expand(B, -1, -1)


# ---------------------------------------------------------------- LAVIS Blip2Qformer.forward
def lavis_losses(m, image_embeds, ids, text_mask, negatives=None, image_ids=None):
    """Returns (loss_itc, loss_itm, loss_itg, extras). negatives = (neg_images, neg_texts) or None
    to sample them with torch.multinomial as LAVIS does."""
    c = m.c
    bs = image_embeds.shape[0]
    query_tokens = m.queries(bs)
    query_output, past = m.bert(query_embeds=query_tokens, image=image_embeds)
    image_feats = F.normalize(m.vision_projection(query_output), dim=-1)
    text_output, _ = m.bert(input_ids=ids, attention_mask=text_mask)
    text_feat = F.normalize(m.text_projection(text_output[:, 0, :]), dim=-1)

    # ITC; concat_all_gather runs under no_grad: the gathered side is a constant.
    image_feats_all = image_feats.detach()
    text_feat_all = text_feat.detach()
    sim_q2t = torch.matmul(image_feats.unsqueeze(1), text_feat_all.unsqueeze(-1)).squeeze()
    sim_i2t, _ = sim_q2t.max(-1)
    sim_i2t = sim_i2t / m.temp
    sim_t2q = torch.matmul(text_feat.unsqueeze(1).unsqueeze(1), image_feats_all.permute(0, 2, 1)).squeeze()
    sim_t2i, _ = sim_t2q.max(-1)
    sim_t2i = sim_t2i / m.temp
    targets = torch.linspace(0, bs - 1, bs, dtype=int)
    if image_ids is not None:
        iid = image_ids.view(-1, 1)
        pos_idx = torch.eq(iid, iid.t()).float()
        sim_targets = pos_idx / pos_idx.sum(1, keepdim=True)
        sim_targets = 0.9 * sim_targets + 0.1 * torch.ones_like(sim_targets) / sim_targets.size(1)
        loss_t2i = -torch.sum(F.log_softmax(sim_t2i, dim=1) * sim_targets, dim=1).mean()
        loss_i2t = -torch.sum(F.log_softmax(sim_i2t, dim=1) * sim_targets, dim=1).mean()
        loss_itc = (loss_t2i + loss_i2t) / 2
    else:
        loss_itc = (F.cross_entropy(sim_i2t, targets, label_smoothing=0.1)
                    + F.cross_entropy(sim_t2i, targets, label_smoothing=0.1)) / 2
    extras = {"sim_i2t": sim_i2t.detach().clone(), "sim_t2i": sim_t2i.detach().clone()}

    # ITM
    with torch.no_grad():
        if image_ids is not None:
            mask = torch.eq(iid, iid.t())
            sim_t2i.masked_fill_(mask, -10000)
            sim_i2t.masked_fill_(mask, -10000)
        else:
            sim_t2i[:, 0:bs].fill_diagonal_(-10000)
            sim_i2t[:, 0:bs].fill_diagonal_(-10000)
        weights_t2i = F.softmax(sim_t2i, dim=1)
        weights_i2t = F.softmax(sim_i2t, dim=1)
    extras["w_t2i"], extras["w_i2t"] = weights_t2i, weights_i2t
    if negatives is None:
        neg_images = [torch.multinomial(weights_t2i[b], 1).item() for b in range(bs)]
        neg_texts = [torch.multinomial(weights_i2t[b], 1).item() for b in range(bs)]
    else:
        neg_images, neg_texts = negatives
    extras["neg_images"], extras["neg_texts"] = torch.tensor(neg_images), torch.tensor(neg_texts)
    image_embeds_neg = torch.stack([image_embeds[i] for i in neg_images], 0)
    text_ids_neg = torch.stack([ids[i] for i in neg_texts], 0)
    text_atts_neg = torch.stack([text_mask[i] for i in neg_texts], 0)
    text_ids_all = torch.cat([ids, ids, text_ids_neg], 0)
    text_atts_all = torch.cat([text_mask, text_mask, text_atts_neg], 0)
    query_tokens_itm = m.queries(text_ids_all.shape[0])
    attention_mask_all = torch.cat([torch.ones(query_tokens_itm.shape[:-1]), text_atts_all], 1)
    image_embeds_all = torch.cat([image_embeds, image_embeds_neg, image_embeds], 0)
    output_itm, _ = m.bert(input_ids=text_ids_all, query_embeds=query_tokens_itm,
                           attention_mask=attention_mask_all, image=image_embeds_all)
    vl_embeddings = output_itm[:, :c.Q, :]
    logits = m.itm_head(vl_embeddings).mean(dim=1)
    itm_labels = torch.cat([torch.ones(bs, dtype=torch.long), torch.zeros(2 * bs, dtype=torch.long)], 0)
    loss_itm = F.cross_entropy(logits, itm_labels)
    extras["itm_logits"] = logits.detach().clone()

    # ITG: the cached query pass, [DEC] for [CLS], shifted labels, pad ignored.
    decoder_input_ids = ids.clone()
    decoder_input_ids[:, 0] = c.dec
    labels = decoder_input_ids.masked_fill(decoder_input_ids == c.pad, -100)
    attention_mask = torch.cat([torch.ones(bs, c.Q), text_mask], 1)
    seq, _ = m.bert(input_ids=decoder_input_ids, attention_mask=attention_mask, is_decoder=True, past=past)
    prediction_scores = m.lm_head(seq)
    shifted = prediction_scores[:, :-1, :].contiguous()
    loss_itg = F.cross_entropy(shifted.view(-1, c.V), labels[:, 1:].contiguous().view(-1), label_smoothing=0.1)
    return loss_itc, loss_itm, loss_itg, extras


def greedy(m, image_embeds, image_mask, max_len, eos):
    """LAVIS-style decoding, greedy: a full first pass of queries + [DEC] (UniLM mask),
    then one token at a time over the KV cache."""
    c = m.c
    B = image_embeds.shape[0]
    ids = torch.full((B, 1), c.dec)
    q = m.queries(B)
    h, past = m.bert(input_ids=ids, query_embeds=q, attention_mask=torch.ones(B, c.Q + 1), image=image_embeds,
                     image_mask=image_mask, is_decoder=True)
    out = [[] for _ in range(B)]
    done = [False] * B
    for step in range(max_len):
        logits = m.lm_head(h[:, -1])
        nxt = logits.argmax(-1)
        for b in range(B):
            if not done[b]:
                if nxt[b].item() == eos:
                    done[b] = True
                else:
                    out[b].append(nxt[b].item())
        if all(done) or step == max_len - 1:
            break
        n = past[0][0].shape[2] + 1
        h, past = m.bert(input_ids=nxt[:, None], attention_mask=torch.ones(B, n), is_decoder=True, past=past)
    return out


# ---------------------------------------------------------------- names
def lavis_name(n):
    """HF BLIP-2 name -> LAVIS Blip2Qformer state_dict key (reference 04 §2)."""
    if n.startswith("embeddings."):
        return "Qformer.bert." + n
    if n.startswith("qformer.layernorm."):
        return n.replace("qformer.layernorm.", "Qformer.bert.embeddings.LayerNorm.")
    if n.startswith("qformer.encoder."):
        n = n.replace("attention.attention.", "attention.self.")
        return n.replace("qformer.encoder.", "Qformer.bert.encoder.")
    if n.startswith("cls."):
        return "Qformer." + n
    for hf, lv in [("vision_projection.", "vision_proj."), ("text_projection.", "text_proj."),
                   ("language_projection.", "opt_proj.")]:
        if n.startswith(hf):
            return lv + n[len(hf):]
    return n


def instruct_name(n):
    """HF BLIP-2 name -> HF InstructBLIP name (reference 05 §1)."""
    if n.startswith("embeddings."):
        return "qformer." + n
    if n.startswith("qformer.layernorm."):
        return n.replace("qformer.layernorm.", "qformer.embeddings.layernorm.")
    return n


def randomize(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "LayerNorm" in n or "layernorm" in n:
                p.copy_((1.0 if n.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=g))
            elif n == "temp":
                p.fill_(0.1)
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def grads_by_name(m, prefix, names):
    return {prefix + n: m.get_parameter(n).grad.clone() for n in names if m.get_parameter(n).grad is not None}


def zero_grads(m):
    for p in m.parameters():
        p.grad = None


# ---------------------------------------------------------------- benchmark
def bench(quick):
    torch.set_num_threads(1)

    def median_ms(f, n):
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    c = Cfg(D=768, L=12, H=12, I=3072, freq=2, W=1408, Q=32, V=30523, P=512, E=256, lm=2560, dec=30522)
    m = Model(c).eval()
    print("torch %s, 1 thread, BLIP-2 preset, median ms" % torch.__version__)
    for B in (1,) if quick else (1, 8):
        img = torch.randn(B, 257, 1408)
        with torch.no_grad():
            ms = median_ms(lambda: m.bert(query_embeds=m.queries(B), image=img), 5 if B == 1 else 3)
        print("Forward/B=%d            %8.1f" % (B, ms))
    img = torch.randn(1, 257, 1408)

    def zero_in_place():  # keep the gradient buffers, as vlm.ZeroGrad does
        for p in m.parameters():
            if p.grad is not None:
                p.grad.zero_()

    def query_step():
        zero_in_place()
        h, _ = m.bert(query_embeds=m.queries(1), image=img)
        h.sum().backward()
    print("TrainStep/query B=1     %8.1f" % median_ms(query_step, 3))
    if quick:
        return
    B, T = 2, 32
    img2 = torch.randn(B, 257, 1408)
    ids = torch.randint(1000, 30000, (B, T))
    ids[:, 0] = 101
    tm = torch.ones(B, T)

    def stage1():
        zero_in_place()
        a, b, g, _ = lavis_losses(m, img2, ids, tm)
        (a + b + g).backward()
    print("TrainStep/stage1 B=2 T=32 %6.1f" % median_ms(stage1, 3))


def goldens():
    # ---------------------------------------------------------------- forward goldens
    torch.manual_seed(0)
    c = Cfg(D=16, L=3, H=4, I=32, freq=2, W=12, Q=3, V=31, P=16, E=8, lm=20)
    m = Model(c)
    randomize(m, 1)
    names = list(m.state_dict().keys())
    out = {"hf." + n: v.clone() for n, v in m.state_dict().items()}

    B, N, T = 3, 5, 5
    image = torch.randn(B, N, c.W)
    image_mask = torch.ones(B, N)
    image_mask[2, 3:] = 0
    text_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float32)
    ids = torch.randint(3, c.V - 1, (B, T))
    ids[:, 0] = 1
    ids[0, 4], ids[1, 3], ids[2, 2] = 2, 2, 2
    ids[text_mask == 0] = 0
    out.update(image=image, image_mask=image_mask, ids=ids, text_mask=text_mask)

    am = torch.cat([torch.ones(B, c.Q), text_mask], 1)
    S = c.Q + T
    isq = torch.arange(S) < c.Q
    unimodal = (isq[:, None] == isq[None, :]).float()[None] * am[:, None, :]
    for mode in ["unimodal", "bidirectional", "causal"]:
        zero_grads(m)
        img = image.clone().requires_grad_()
        kw = dict(input_ids=ids, query_embeds=m.queries(B), attention_mask=am, image=img, image_mask=image_mask)
        if mode == "unimodal":
            y, _ = m.bert(keep=unimodal, **kw)
            # One pass under the unimodal mask is LAVIS's two separate ITC passes.
            yq, _ = m.bert(query_embeds=m.queries(B), image=image, image_mask=image_mask)
            yt, _ = m.bert(input_ids=ids, attention_mask=text_mask)
            assert torch.allclose(y, torch.cat([yq, yt], 1), atol=1e-5), "unimodal pass != two passes"
            out["query_only.y"], out["text_only.y"] = yq.detach(), yt.detach()
        else:
            y, _ = m.bert(is_decoder=(mode == "causal"), **kw)
        r = torch.randn(y.shape)
        (y * r).sum().backward()
        out.update({mode + ".y": y, mode + ".r": r, mode + ".dimage": img.grad})
        out.update(grads_by_name(m, mode + ".g.", names))

    # InstructBLIP: queries + instruction, bidirectional, query outputs kept, language_projection.
    zero_grads(m)
    out.update({"instruct.p." + instruct_name(n): v.clone() for n, v in m.state_dict().items()
                if not n.startswith(("cls.", "vision_projection.", "text_projection.", "itm_head.", "temp"))})
    iids = torch.tensor([[1, 7, 8, 9, 2, 0], [1, 10, 2, 0, 0, 0], [1, 11, 12, 13, 14, 2]])
    imask = (iids != 0).float()
    img = image.clone().requires_grad_()
    h, _ = m.bert(input_ids=iids, query_embeds=m.queries(B), attention_mask=torch.cat([torch.ones(B, c.Q), imask], 1),
                  image=img, image_mask=image_mask)
    q = h[:, :c.Q]
    proj = m.language_projection(q)
    r = torch.randn(proj.shape)
    (proj * r).sum().backward()
    out.update({"instruct.ids": iids, "instruct.text_mask": imask, "instruct.y": q, "instruct.proj": proj,
                "instruct.r": r, "instruct.dimage": img.grad})
    out.update({"instruct.g." + instruct_name(k[len("tmp."):]): v for k, v in grads_by_name(m, "tmp.", names).items()})

    with torch.no_grad():
        out["generate.ids"] = torch.tensor(
            [(s + [-1] * 6)[:6] for s in greedy(m, image, image_mask, max_len=6, eos=2)])  # -1 pads the ragged rows
    save("qformer/testdata/forward.safetensors", out)

    # ---------------------------------------------------------------- loss goldens
    torch.manual_seed(1)
    m = Model(c)
    randomize(m, 2)
    out = {"lavis." + lavis_name(n): v.clone() for n, v in m.state_dict().items()}
    out["lavis.Qformer.bert.embeddings.position_ids"] = torch.arange(c.P)[None]
    out["lavis.ln_vision.weight"] = torch.ones(c.W)
    out["lavis.visual_encoder.cls_token"] = torch.zeros(1, 1, c.W)

    B = 4
    image = torch.randn(B, N, c.W)
    text_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    ids = torch.randint(3, c.V - 1, (B, T))
    ids[:, 0] = 1
    ids[text_mask == 0] = 0
    out.update(image=image, ids=ids, text_mask=text_mask)

    torch.manual_seed(2)
    negatives = None
    for tag in ["itc", "itm", "itg", "total"]:
        zero_grads(m)
        img = image.clone().requires_grad_()
        li, lm_, lg, ex = lavis_losses(m, img, ids, text_mask, negatives)
        if negatives is None:
            negatives = (ex["neg_images"].tolist(), ex["neg_texts"].tolist())
            out.update(w_t2i=ex["w_t2i"], w_i2t=ex["w_i2t"], neg_images=ex["neg_images"], neg_texts=ex["neg_texts"],
                       sim_i2t=ex["sim_i2t"], sim_t2i=ex["sim_t2i"], itm_logits=ex["itm_logits"])
        loss = {"itc": li, "itm": lm_, "itg": lg, "total": li + lm_ + lg}[tag]
        loss.backward()
        out.update({tag + ".value": loss, tag + ".dimage": img.grad})
        out.update(grads_by_name(m, tag + ".g.", names))
    print("negatives (images, texts):", negatives)

    image_ids = torch.tensor([7, 3, 7, 5])
    zero_grads(m)
    img = image.clone().requires_grad_()
    li, _, _, ex = lavis_losses(m, img, ids, text_mask, negatives, image_ids=image_ids)
    li.backward()
    out.update({"image_ids": image_ids, "ids_itc.value": li, "ids_itc.dimage": img.grad,
                "ids_w_t2i": ex["w_t2i"], "ids_w_i2t": ex["w_i2t"]})
    out.update(grads_by_name(m, "ids_itc.g.", names))
    save("qformer/testdata/losses.safetensors", out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        bench(len(sys.argv) > 2 and sys.argv[2] == "quick")
    else:
        goldens()
