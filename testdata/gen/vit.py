"""Golden values for package encoder's ViT: a plain-torch CLIP vision model
(transformers' CLIPVisionModelWithProjection re-implemented from
modeling_clip.py: CLIPVisionEmbeddings, CLIPAttention, CLIPMLP,
CLIPEncoderLayer, CLIPVisionTransformer) with random weights at a tiny
size, saved twice as checkpoints — with Hugging Face names and with
OpenAI/open_clip names (fused in_proj, transposed proj) — plus its outputs
and PyTorch 1.13's autograd gradients.

Run: /usr/bin/python3 testdata/gen/vit.py
(writes encoder/testdata/vit_hf.safetensors, vit_openai.safetensors, vit.safetensors)

     /usr/bin/python3 testdata/gen/vit.py bench  times this model at CLIP ViT-B/16 size
     (224 px, B=1, no grad, one thread, median ms), to run alternately with
     go test -run X -bench ViTB16 -cpu 1 ./encoder/
"""
import sys
import time

import torch
from torch import nn

from goldens import save

IMAGE, PATCH, DIM, LAYERS, HEADS, HIDDEN, PROJ, EPS = 32, 8, 32, 3, 4, 64, 24, 1e-5


def use_b16():
    """Switches the module to CLIP ViT-B/16 size (224 px) for the models built afterwards."""
    global IMAGE, PATCH, DIM, LAYERS, HEADS, HIDDEN, PROJ
    IMAGE, PATCH, DIM, LAYERS, HEADS, HIDDEN, PROJ = 224, 16, 768, 12, 12, 3072, 512


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)
        self.v_proj, self.out_proj = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)

    def forward(self, x):
        b, t, _ = x.shape
        dh = DIM // HEADS
        shape = lambda y: y.view(b, t, HEADS, dh).transpose(1, 2)
        q = shape(self.q_proj(x) * dh ** -0.5)
        k, v = shape(self.k_proj(x)), shape(self.v_proj(x))
        p = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.out_proj((p @ v).transpose(1, 2).reshape(b, t, DIM))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(DIM, HIDDEN), nn.Linear(HIDDEN, DIM)

    def forward(self, x):
        return self.fc2(quick_gelu(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_norm1, self.self_attn = nn.LayerNorm(DIM, eps=EPS), Attention()
        self.layer_norm2, self.mlp = nn.LayerNorm(DIM, eps=EPS), MLP()

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        n = (IMAGE // PATCH) ** 2
        self.class_embedding = nn.Parameter(torch.randn(DIM))
        self.patch_embedding = nn.Conv2d(3, DIM, PATCH, stride=PATCH, bias=False)
        self.position_embedding = nn.Embedding(n + 1, DIM)

    def forward(self, pixels):
        b = pixels.shape[0]
        p = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(b, 1, -1), p], dim=1)
        return x + self.position_embedding.weight


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Layer() for _ in range(LAYERS)])


class VisionTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.pre_layrnorm = nn.LayerNorm(DIM, eps=EPS)
        self.encoder = Encoder()
        self.post_layernorm = nn.LayerNorm(DIM, eps=EPS)

    def forward(self, pixels):
        x = self.pre_layrnorm(self.embeddings(pixels))
        hidden = [x]
        for layer in self.encoder.layers:
            x = layer(x)
            hidden.append(x)
        return x, self.post_layernorm(x[:, 0]), hidden


class CLIPVisionModelWithProjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_model = VisionTransformer()
        self.visual_projection = nn.Linear(DIM, PROJ, bias=False)

    def forward(self, pixels):
        last, pooled, hidden = self.vision_model(pixels)
        return last, pooled, self.visual_projection(pooled), hidden


def bench():
    use_b16()
    torch.set_num_threads(1)
    model = CLIPVisionModelWithProjection().eval()
    pixels = torch.randn(1, 3, IMAGE, IMAGE)
    with torch.no_grad():
        for _ in range(3):
            model(pixels)
        ts = []
        for _ in range(10):
            t0 = time.perf_counter()
            model(pixels)
            ts.append(time.perf_counter() - t0)
    print("torch %s, 1 thread: CLIP ViT-B/16 forward, B=1, median %.1f ms" % (torch.__version__, sorted(ts)[5] * 1e3))


def goldens():
    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection()
    with torch.no_grad():  # non-trivial norms, so that a swapped weight shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    sd = model.state_dict()
    save("encoder/testdata/vit_hf.safetensors", sd)

    # The same weights under OpenAI / open_clip names.
    oa = {"visual.class_embedding": sd["vision_model.embeddings.class_embedding"],
          "visual.positional_embedding": sd["vision_model.embeddings.position_embedding.weight"],
          "visual.conv1.weight": sd["vision_model.embeddings.patch_embedding.weight"],
          "visual.proj": sd["visual_projection.weight"].t()}
    for a, b in [("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")]:
        for s in ("weight", "bias"):
            oa["visual.%s.%s" % (a, s)] = sd["vision_model.%s.%s" % (b, s)]
    for i in range(LAYERS):
        hf, op = "vision_model.encoder.layers.%d." % i, "visual.transformer.resblocks.%d." % i
        for a, b in [("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
                     ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
            for s in ("weight", "bias"):
                oa[op + a + "." + s] = sd[hf + b + "." + s]
        for s in ("weight", "bias"):
            oa[op + "attn.in_proj_" + s] = torch.cat([sd[hf + "self_attn.%s_proj.%s" % (x, s)] for x in "qkv"])
    oa["logit_scale"] = torch.tensor(4.6052)  # a text-tower key the loader must skip
    save("encoder/testdata/vit_openai.safetensors", oa)

    pixels = torch.randn(2, 3, IMAGE, IMAGE, requires_grad=True)
    last, pooled, embeds, hidden = model(pixels)
    r1, r2, r3 = torch.randn_like(last), torch.randn_like(pooled), torch.randn_like(embeds)
    ((last * r1).sum() + (pooled * r2).sum() + (embeds * r3).sum()).backward()
    out = {"pixels": pixels, "last_hidden_state": last, "pooler_output": pooled, "image_embeds": embeds,
           "r_last": r1, "r_pooled": r2, "r_embeds": r3, "dpixels": pixels.grad}
    for i, h in enumerate(hidden):
        out["hidden_states.%d" % i] = h
    for n, p in model.named_parameters():
        out["grad." + n] = p.grad
    save("encoder/testdata/vit.safetensors", out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        bench()
    else:
        goldens()
