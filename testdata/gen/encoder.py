"""Golden values for package encoder's primitives and CNN: Conv2d (stride,
padding, with and without bias, the stride = kernel patch embedding), max,
average and adaptive average pooling, and the small CNN, with PyTorch
1.13's autograd gradients.

Activations are stored channels-last ([B, H, W, C], the layout of package
encoder); PyTorch computes channels-first and the tensors are permuted on
the way out. Weights keep PyTorch's layout.

Run: /usr/bin/python3 testdata/gen/encoder.py  (writes encoder/testdata/ops.safetensors, cnn.safetensors)
"""
import torch
import torch.nn.functional as F

from goldens import save

torch.manual_seed(0)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


out = {}

# Conv2d cases: (tag, B, C, H, W, O, kernel, stride, padding, bias).
convs = [
    ("conv3x3", 2, 3, 7, 6, 5, 3, 1, 1, True),
    ("conv_stride2", 2, 4, 9, 8, 3, 3, 2, 1, True),
    ("conv_nopad", 1, 2, 6, 7, 4, 3, 2, 0, False),
    ("conv1x1", 2, 6, 3, 4, 5, 1, 1, 0, True),
    ("conv5x5pad2", 1, 3, 8, 8, 2, 5, 1, 2, True),
]
for tag, b, c, h, w, o, k, s, p, bias in convs:
    conv = torch.nn.Conv2d(c, o, k, stride=s, padding=p, bias=bias)
    x = torch.randn(b, c, h, w, requires_grad=True)
    y = conv(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({tag + ".weight": conv.weight, tag + ".x": nhwc(x), tag + ".y": nhwc(y), tag + ".r": nhwc(r),
                tag + ".dx": nhwc(x.grad), tag + ".dweight": conv.weight.grad})
    if bias:
        out.update({tag + ".bias": conv.bias, tag + ".dbias": conv.bias.grad})

# Patch embedding: channels-first pixels, stride = kernel = 4, no bias,
# 18x13 image (the last rows and columns fall outside every patch).
pe = torch.nn.Conv2d(3, 8, 4, stride=4, bias=False)
x = torch.randn(2, 3, 18, 13, requires_grad=True)
y = pe(x).flatten(2).transpose(1, 2)  # (B, N, D), row-major patches
r = torch.randn_like(y)
(y * r).sum().backward()
out.update({"patch.weight": pe.weight, "patch.x": x, "patch.y": y, "patch.r": r, "patch.dx": x.grad,
            "patch.dweight": pe.weight.grad})

# Pooling cases on x (2, 5, 9, 8) (distinct values, so max ties cannot occur).
x0 = torch.randperm(2 * 5 * 9 * 8).float().reshape(2, 5, 9, 8) / 100 - 3
pools = {
    "maxpool2": lambda v: F.max_pool2d(v, 2, 2),
    "maxpool3s2p1": lambda v: F.max_pool2d(v, 3, 2, 1),
    "avgpool2": lambda v: F.avg_pool2d(v, 2, 2),
    "avgpool3s2p1": lambda v: F.avg_pool2d(v, 3, 2, 1),
    "avgpool3s2p1_nopad": lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=False),
    "adaptive4x3": lambda v: F.adaptive_avg_pool2d(v, (4, 3)),
    "adaptive14": lambda v: F.adaptive_avg_pool2d(v, (14, 14)),
}
out["pool.x"] = nhwc(x0)
for tag, f in pools.items():
    x = x0.clone().requires_grad_()
    y = f(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({tag + ".y": nhwc(y), tag + ".r": nhwc(r), tag + ".dx": nhwc(x.grad)})

save("encoder/testdata/ops.safetensors", out)


# The small CNN: stages of conv3x3 (pad 1, bias) -> LayerNorm over the
# channels of each pixel -> ReLU -> max_pool 2x2, then adaptive average
# pooling to a 3x3 grid; output channels-last. Keys as the Go CNN's.
class Stage(torch.nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = torch.nn.LayerNorm(cout, eps=1e-5)
        with torch.no_grad():
            self.norm.weight.copy_(1 + 0.3 * torch.randn(cout))
            self.norm.bias.copy_(0.3 * torch.randn(cout))

    def forward(self, x):
        x = self.conv(x)
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return F.max_pool2d(torch.relu(x), 2, 2)


class CNN(torch.nn.Module):
    def __init__(self, cin, channels, grid):
        super().__init__()
        self.stages = torch.nn.ModuleList()
        for c in channels:
            self.stages.append(Stage(cin, c))
            cin = c
        self.grid = grid

    def forward(self, pixels):
        x = pixels
        for s in self.stages:
            x = s(x)
        return nhwc(F.adaptive_avg_pool2d(x, self.grid))


cnn = CNN(3, [4, 6], 3)
pixels = torch.randn(2, 3, 10, 9, requires_grad=True)
grid = cnn(pixels)
r = torch.randn_like(grid)
(grid * r).sum().backward()
cout = {"pixels": pixels, "grid": grid, "r": r, "dpixels": pixels.grad}
for n, p in cnn.named_parameters():
    cout["param." + n] = p
    cout["grad." + n] = p.grad
save("encoder/testdata/cnn.safetensors", cout)
