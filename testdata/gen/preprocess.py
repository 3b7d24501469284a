"""Reference outputs of the image preprocessing pipelines on real photographs,
for package encoder's parity test (run by hand, never by CI).

The Hugging Face pipelines are re-implemented here in plain PIL/numpy from
transformers' CLIPImageProcessor / BlipImageProcessor and
image_transforms.py (convert_rgb, get_resize_output_image_size, resize via
PIL Image.resize(BICUBIC, reducing_gap=None), center_crop with floor and
zero padding, rescale in float64 then float32, normalize in float32);
LLaVA's expand2square is copied from llava/mm_utils.py; the OpenAI CLIP
pipeline is torchvision's Resize(BICUBIC) + CenterCrop + ToTensor +
Normalize.

Every pipeline ends in x -> (x/255 - mean)/std on uint8 x, so its output
is fully described by the uint8 image before normalisation and a 256-entry
table per channel. The script stores the uint8 images as PNG files and the
tables as safetensors, and checks that table[png] reproduces the float
pipeline output exactly. It also stores PIL bicubic resizes of small noise
and checkerboard images (as float tensors [H, W, 3]).

Run: /usr/bin/python3 testdata/gen/preprocess.py
(writes encoder/testdata/pre_*.png, tiny.webp and preprocess.safetensors)
"""
import os

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from goldens import ROOT, save

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
DATA = os.path.join(ROOT, "encoder", "testdata")


def hf_resize_shortest(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nh, nw = (new_long, new_short) if w <= h else (new_short, new_long)
    return img.resize((nw, nh), resample=Image.BICUBIC, reducing_gap=None)


def hf_center_crop(a, ch, cw):
    """transformers.image_transforms.center_crop on an HWC uint8 array."""
    oh, ow = a.shape[:2]
    top, left = (oh - ch) // 2, (ow - cw) // 2
    bottom, right = top + ch, left + cw
    if top >= 0 and bottom <= oh and left >= 0 and right <= ow:
        return a[top:bottom, left:right]
    nh, nw = max(ch, oh), max(cw, ow)
    new = np.zeros((nh, nw) + a.shape[2:], dtype=a.dtype)
    tp, lp = int(np.ceil((nh - oh) / 2)), int(np.ceil((nw - ow) / 2))
    new[tp:tp + oh, lp:lp + ow] = a
    top, bottom, left, right = top + tp, bottom + tp, left + lp, right + lp
    return new[max(0, top):min(nh, bottom), max(0, left):min(nw, right)]


def hf_normalize(a):
    x = (a.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return x.transpose(2, 0, 1)


def expand2square(img, background):
    w, h = img.size
    if w == h:
        return img
    if w > h:
        out = Image.new(img.mode, (w, w), background)
        out.paste(img, (0, (w - h) // 2))
        return out
    out = Image.new(img.mode, (h, h), background)
    out.paste(img, ((h - w) // 2, 0))
    return out


def clip_hf(img, size):
    a = np.asarray(hf_resize_shortest(img.convert("RGB"), size))
    a = hf_center_crop(a, size, size)
    return a, hf_normalize(a)


def blip2(img, size):
    a = np.asarray(img.convert("RGB").resize((size, size), resample=Image.BICUBIC, reducing_gap=None))
    return a, hf_normalize(a)


def llava(img, size):
    bg = tuple(int(x * 255) for x in MEAN)
    return clip_hf(expand2square(img.convert("RGB"), bg), size)


def clip_openai(img, size):
    pre = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size)])
    cropped = pre(img).convert("RGB")
    x = T.Normalize(MEAN, STD)(T.ToTensor()(cropped)).numpy()
    return np.asarray(cropped), x


def lut_hf():
    v = np.arange(256, dtype=np.uint8).reshape(256, 1).repeat(3, 1)[None]
    return hf_normalize(v)[:, 0, :]  # (3, 256)


def lut_tv():
    v = torch.arange(256, dtype=torch.uint8).float().div(255)
    return (v[None, :] - torch.tensor(MEAN)[:, None]) / torch.tensor(STD)[:, None]


cases = [
    ("chelsea.png", "clip224", clip_hf, 224, "hf"),
    ("chelsea.png", "blip2_224", blip2, 224, "hf"),
    ("rocket.jpg", "clip224", clip_hf, 224, "hf"),
    ("rocket.jpg", "openai224", clip_openai, 224, "tv"),
    ("rocket.jpg", "llava336", llava, 336, "hf"),
    ("retina.jpg", "clip224", clip_hf, 224, "hf"),
]
luts = {"hf": lut_hf(), "tv": lut_tv().numpy()}
for name, tag, f, size, lut in cases:
    img = Image.open(os.path.join(DATA, name))
    a, x = f(img, size)
    table = luts[lut]
    again = np.stack([table[c][a[..., c]] for c in range(3)])
    assert np.array_equal(again, x), (name, tag)
    out = "pre_%s_%s.png" % (os.path.splitext(name)[0], tag)
    Image.fromarray(np.ascontiguousarray(a)).save(os.path.join(DATA, out), optimize=True)
    print("wrote", out, a.shape)

# PIL bicubic on noise and a checkerboard, up- and downscaling each axis.
g = torch.Generator().manual_seed(0)
noise = torch.randint(0, 256, (17, 29, 3), generator=g, dtype=torch.uint8).numpy()
checker = ((np.indices((17, 29)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
resized = {"resize.noise": noise, "resize.checker": checker}
for tag, a in [("noise", noise), ("checker", checker)]:
    for w, h in [(13, 40), (64, 9), (29, 5), (7, 7), (58, 34)]:
        out = np.asarray(Image.fromarray(a).resize((w, h), resample=Image.BICUBIC, reducing_gap=None))
        resized["resize.%s.%dx%d" % (tag, w, h)] = out
# A tiny lossless WebP (Go has no WebP encoder) and its pixels.
webp = torch.randint(0, 256, (6, 8, 3), generator=g, dtype=torch.uint8).numpy()
Image.fromarray(webp).save(os.path.join(DATA, "tiny.webp"), lossless=True)
assert np.array_equal(np.asarray(Image.open(os.path.join(DATA, "tiny.webp")).convert("RGB")), webp)
resized["webp.pixels"] = webp

save("encoder/testdata/preprocess.safetensors",
     {"lut.hf": torch.tensor(luts["hf"]), "lut.tv": torch.tensor(luts["tv"]),
      **{k: torch.tensor(v.astype(np.float32)) for k, v in resized.items()}})
