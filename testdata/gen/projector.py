"""Golden values for package projector, with PyTorch 1.13 autograd gradients.

Groups (prefix of every tensor name):
  linear   LLaVA v1 projector nn.Linear(mm_hidden, hidden), on features selected
           from a list of vision hidden states (layer -2, CLS dropped: 'patch')
  mlp      mlp2x_gelu: Linear, exact GELU, Linear (HF LlavaMultiModalProjector
           linear_1 / act / linear_2), layer -1 with CLS kept ('cls_patch')
  right    haotian-liu/LLaVA llava_arch.py prepare_inputs_labels_for_multimodal,
           re-implemented in plain torch: mlp2x_gelu projector on raw image features,
           a ragged batch of three samples (two images in sample 0, one in sample 1,
           sample 2 text only -- it consumes a feature slot and splices none of it),
           labels, right padding, tokenizer_model_max_length truncation
  left     the same with tokenizer_padding_side 'left' and no labels (generation)
  hf       HF transformers' expanded form: the processor repeats the image token
           N times; inputs_embeds.masked_scatter(input_ids == image_token_index, features)

<prefix>.p.<name> are parameters under HF names (linear_1.*, linear_2.*, embed.weight),
<prefix>.g.<name> their gradients; every loss is sum(out * r) for a fixed random r.
llava_mm_projector.safetensors holds the mlp projector under original LLaVA keys
(model.mm_projector.0/2) next to a vision-tower key, for the rename test.

Run: /usr/bin/python3 testdata/gen/projector.py  (writes projector/testdata/*.safetensors)

     /usr/bin/python3 testdata/gen/projector.py bench  times PyTorch on the LLaVA-1.5
     projector (576 tokens, 1024 -> 4096 -> 4096; one thread, no grad, median ms), to run
     alternately with go test -run X -bench Projector -cpu 1 ./projector/
"""
import sys
import time

import torch
import torch.nn as nn

from goldens import save, grads

IMAGE_TOKEN_INDEX = -200
IGNORE_INDEX = -100


class Projector(nn.Module):
    """HF LlavaMultiModalProjector (mlp2x_gelu) or LLaVA's linear projector."""

    def __init__(self, kind, d_in, d_out):
        super().__init__()
        self.kind = kind
        self.linear_1 = nn.Linear(d_in, d_out)
        if kind == "mlp2x_gelu":
            self.act = nn.GELU()
            self.linear_2 = nn.Linear(d_out, d_out)

    def forward(self, x):
        x = self.linear_1(x)
        if self.kind == "mlp2x_gelu":
            x = self.linear_2(self.act(x))
        return x


def bench():
    torch.set_num_threads(1)
    p = Projector("mlp2x_gelu", 1024, 4096).eval()
    x = torch.randn(1, 576, 1024)

    def median_ms(f, n=10):
        f()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2] * 1e3

    with torch.no_grad():
        print("torch %s, 1 thread, median ms" % torch.__version__)
        print("Projector mlp2x_gelu 576x1024->4096->4096  %.1f" % median_ms(lambda: p(x)))


if len(sys.argv) > 1 and sys.argv[1] == "bench":
    bench()
    sys.exit(0)

torch.manual_seed(0)
out = {}


def put(prefix, **kw):
    for k, v in kw.items():
        out[prefix + "." + k] = v


def params(prefix, module):
    for n, p in module.named_parameters():
        out[prefix + ".p." + n] = p.detach().clone()


def feature_select(hidden_states, layer, strategy):
    """CLIPVisionTower.feature_select."""
    f = hidden_states[layer]
    if strategy == "patch":
        f = f[:, 1:]
    return f


# ---------------------------------------------------------------- projectors
B, N, DV, DL = 2, 6, 12, 20
for prefix, kind, layer, strategy in [("linear", "linear", -2, "patch"), ("mlp", "mlp2x_gelu", -1, "cls_patch")]:
    proj = Projector(kind, DV, DL)
    params(prefix, proj)
    hidden = [torch.randn(B, 1 + N, DV, requires_grad=True) for _ in range(4)]
    y = proj(feature_select(hidden, layer, strategy))
    r = torch.randn(y.shape)
    (y * r).sum().backward()
    put(prefix, y=y, r=r)
    for i, h in enumerate(hidden):
        put(prefix, **{"h%d" % i: h})
        if h.grad is not None:
            put(prefix, **{"dh%d" % i: h.grad})
    out.update(grads(prefix + ".g.", proj.named_parameters()))
    if kind == "mlp2x_gelu":
        sd = proj.state_dict()
        save("projector/testdata/llava_mm_projector.safetensors", {
            "model.mm_projector.0.weight": sd["linear_1.weight"], "model.mm_projector.0.bias": sd["linear_1.bias"],
            "model.mm_projector.2.weight": sd["linear_2.weight"], "model.mm_projector.2.bias": sd["linear_2.bias"],
            "model.vision_tower.vision_tower.vision_model.post_layernorm.weight": torch.ones(DV),
        })


# ---------------------------------------------------------------- LLaVA splice
def prepare_inputs_labels_for_multimodal(embed_tokens, input_ids, attention_mask, labels, image_features,
                                         padding_side, max_length):
    """llava_arch.py LlavaMetaForCausalLM.prepare_inputs_labels_for_multimodal (c121f04),
    from the point where image_features are computed; position_ids are returned as if given."""
    _labels = labels
    attention_mask = attention_mask.bool()
    if labels is None:
        labels = torch.full_like(input_ids, IGNORE_INDEX)
    input_ids = [cur_input_ids[cur_attention_mask] for cur_input_ids, cur_attention_mask in zip(input_ids, attention_mask)]
    labels = [cur_labels[cur_attention_mask] for cur_labels, cur_attention_mask in zip(labels, attention_mask)]

    new_input_embeds = []
    new_labels = []
    cur_image_idx = 0
    for batch_idx, cur_input_ids in enumerate(input_ids):
        num_images = (cur_input_ids == IMAGE_TOKEN_INDEX).sum()
        if num_images == 0:
            cur_image_features = image_features[cur_image_idx]
            cur_input_embeds_1 = embed_tokens(cur_input_ids)
            cur_input_embeds = torch.cat([cur_input_embeds_1, cur_image_features[0:0]], dim=0)
            new_input_embeds.append(cur_input_embeds)
            new_labels.append(labels[batch_idx])
            cur_image_idx += 1
            continue

        image_token_indices = [-1] + torch.where(cur_input_ids == IMAGE_TOKEN_INDEX)[0].tolist() + [cur_input_ids.shape[0]]
        cur_input_ids_noim = []
        cur_labels = labels[batch_idx]
        cur_labels_noim = []
        for i in range(len(image_token_indices) - 1):
            cur_input_ids_noim.append(cur_input_ids[image_token_indices[i] + 1:image_token_indices[i + 1]])
            cur_labels_noim.append(cur_labels[image_token_indices[i] + 1:image_token_indices[i + 1]])
        split_sizes = [x.shape[0] for x in cur_labels_noim]
        cur_input_embeds = embed_tokens(torch.cat(cur_input_ids_noim))
        cur_input_embeds_no_im = torch.split(cur_input_embeds, split_sizes, dim=0)
        cur_new_input_embeds = []
        cur_new_labels = []
        for i in range(num_images + 1):
            cur_new_input_embeds.append(cur_input_embeds_no_im[i])
            cur_new_labels.append(cur_labels_noim[i])
            if i < num_images:
                cur_image_features = image_features[cur_image_idx]
                cur_image_idx += 1
                cur_new_input_embeds.append(cur_image_features)
                cur_new_labels.append(torch.full((cur_image_features.shape[0],), IGNORE_INDEX, dtype=cur_labels.dtype))
        new_input_embeds.append(torch.cat(cur_new_input_embeds))
        new_labels.append(torch.cat(cur_new_labels))

    if max_length is not None:
        new_input_embeds = [x[:max_length] for x in new_input_embeds]
        new_labels = [x[:max_length] for x in new_labels]

    max_len = max(x.shape[0] for x in new_input_embeds)
    batch_size = len(new_input_embeds)
    new_input_embeds_padded = []
    new_labels_padded = torch.full((batch_size, max_len), IGNORE_INDEX, dtype=new_labels[0].dtype)
    attention_mask = torch.zeros((batch_size, max_len), dtype=attention_mask.dtype)
    position_ids = torch.zeros((batch_size, max_len), dtype=torch.long)
    for i, (cur_new_embed, cur_new_labels) in enumerate(zip(new_input_embeds, new_labels)):
        cur_len = cur_new_embed.shape[0]
        zeros = torch.zeros((max_len - cur_len, cur_new_embed.shape[1]), dtype=cur_new_embed.dtype)
        if padding_side == "left":
            new_input_embeds_padded.append(torch.cat((zeros, cur_new_embed), dim=0))
            if cur_len > 0:
                new_labels_padded[i, -cur_len:] = cur_new_labels
                attention_mask[i, -cur_len:] = True
                position_ids[i, -cur_len:] = torch.arange(0, cur_len, dtype=position_ids.dtype)
        else:
            new_input_embeds_padded.append(torch.cat((cur_new_embed, zeros), dim=0))
            if cur_len > 0:
                new_labels_padded[i, :cur_len] = cur_new_labels
                attention_mask[i, :cur_len] = True
                position_ids[i, :cur_len] = torch.arange(0, cur_len, dtype=position_ids.dtype)
    new_input_embeds = torch.stack(new_input_embeds_padded, dim=0)
    return position_ids, attention_mask, new_input_embeds, (new_labels_padded if _labels is not None else None)


V, D, DV, NIMG = 17, 10, 8, 4


def splice_case(prefix, padding_side, with_labels, max_length):
    embed = nn.Embedding(V, D)
    proj = Projector("mlp2x_gelu", DV, D)
    for n, p in list(proj.named_parameters()) + [("embed.weight", embed.weight)]:
        out[prefix + ".p." + n] = p.detach().clone()
    # Samples, unpadded: two images (one at the start, one in the middle), one
    # image at the end, and text only.
    s0 = [1, IMAGE_TOKEN_INDEX, 5, 6, 7, IMAGE_TOKEN_INDEX, 8, 9, 2]
    s1 = [1, 11, 12, IMAGE_TOKEN_INDEX]
    s2 = [1, 13, 14, 15, 16, 2]
    samples = [s0, s1, s2]
    lab = [[IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 6, 7, IGNORE_INDEX, 8, 9, 2],
           [IGNORE_INDEX, IGNORE_INDEX, 12, IGNORE_INDEX],
           [IGNORE_INDEX, IGNORE_INDEX, 14, 15, 16, 2]]
    T = max(len(s) for s in samples)
    ids = torch.zeros(3, T, dtype=torch.long)
    mask = torch.zeros(3, T, dtype=torch.long)
    labels = torch.full((3, T), IGNORE_INDEX, dtype=torch.long)
    for i, s in enumerate(samples):  # the tokenizer's padding (pad id 0), right or left
        sl = slice(0, len(s)) if padding_side == "right" else slice(T - len(s), T)
        ids[i, sl], mask[i, sl], labels[i, sl] = torch.tensor(s), 1, torch.tensor(lab[i])
    # Raw vision features of the four image slots (two for s0, one for s1, the
    # dummy slot of the text-only s2) through the projector.
    raw = torch.randn(4, NIMG, DV, requires_grad=True)
    feats = proj(raw)
    position_ids, attention_mask, embeds, new_labels = prepare_inputs_labels_for_multimodal(
        embed, ids, mask, labels if with_labels else None, list(feats), padding_side, max_length)
    r = torch.randn(embeds.shape)
    (embeds * r).sum().backward()
    put(prefix, ids=ids, mask=mask, raw=raw, embeds=embeds, r=r, positions=position_ids,
        attention_mask=attention_mask.long(), draw=raw.grad)
    if with_labels:
        put(prefix, labels=labels, new_labels=new_labels)
    out.update(grads(prefix + ".g.", list(proj.named_parameters()) + [("embed.weight", embed.weight)]))


splice_case("right", "right", True, 13)
splice_case("left", "left", False, None)

# HF expanded form: image token id 3 repeated NIMG times per image, right padding.
embed = nn.Embedding(V, D)
out["hf.p.embed.weight"] = embed.weight.detach().clone()
IMG = 3
rows = [[1] + [IMG] * NIMG + [5, 6] + [IMG] * NIMG + [7, 2], [1, 9] + [IMG] * NIMG + [10]]
T = max(len(x) for x in rows)
ids = torch.zeros(2, T, dtype=torch.long)
mask = torch.zeros(2, T, dtype=torch.long)
for i, x in enumerate(rows):
    ids[i, :len(x)], mask[i, :len(x)] = torch.tensor(x), 1
feats = torch.randn(3, NIMG, D, requires_grad=True)
image_mask = (ids == IMG).unsqueeze(-1).expand(-1, -1, D)
embeds = embed(ids).masked_scatter(image_mask, feats.reshape(-1, D))
r = torch.randn(embeds.shape)
(embeds * r).sum().backward()
put("hf", ids=ids, mask=mask, feats=feats, embeds=embeds, r=r, dfeats=feats.grad)
out["hf.g.embed.weight"] = embed.weight.grad

save("projector/testdata/projector.safetensors", out)
