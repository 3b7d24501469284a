"""Golden values for the root package: Linear, LayerNorm, the GELU flavours,
softmax with an additive mask, cross-entropy and one AdamW step, with
PyTorch 1.13's autograd gradients.

Run: /usr/bin/python3 testdata/gen/core.py  (writes testdata/core.safetensors)
"""
import torch
import torch.nn.functional as F

from goldens import save

torch.manual_seed(0)
out = {}

# Linear [2, 5, 8] -> [2, 5, 6] with bias; loss = sum(y * r).
lin = torch.nn.Linear(8, 6)
x = torch.randn(2, 5, 8, requires_grad=True)
r = torch.randn(2, 5, 6)
y = lin(x)
(y * r).sum().backward()
out.update({"linear.weight": lin.weight, "linear.bias": lin.bias, "linear.x": x, "linear.r": r,
            "linear.y": y, "linear.dx": x.grad, "linear.dweight": lin.weight.grad, "linear.dbias": lin.bias.grad})

# LayerNorm over 16 features with eps 1e-12 (BERT) and 1e-5 (CLIP).
for eps, tag in [(1e-12, "ln12"), (1e-5, "ln5")]:
    ln = torch.nn.LayerNorm(16, eps=eps)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(16))
        ln.bias.copy_(torch.randn(16))
    x = (torch.randn(3, 4, 16) * 3 + 1).requires_grad_()
    r = torch.randn(3, 4, 16)
    y = ln(x)
    (y * r).sum().backward()
    out.update({tag + ".weight": ln.weight, tag + ".bias": ln.bias, tag + ".x": x, tag + ".r": r, tag + ".y": y,
                tag + ".dx": x.grad, tag + ".dweight": ln.weight.grad, tag + ".dbias": ln.bias.grad})

# Activations over a wide range.
x0 = torch.linspace(-6, 6, 97)
r = torch.randn(97)
acts = {
    "gelu": torch.nn.GELU(),
    "gelu_tanh": torch.nn.GELU(approximate="tanh"),
    "quick_gelu": lambda v: v * torch.sigmoid(1.702 * v),
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
out["act.x"], out["act.r"] = x0, r
for name, f in acts.items():
    x = x0.clone().requires_grad_()
    y = f(x)
    (y * r).sum().backward()
    out["act." + name + ".y"], out["act." + name + ".dx"] = y, x.grad

# Softmax over scores [2, 3, 4, 6] with an additive padding mask [2, 1, 1, 6]
# (-10000 on masked keys, as BERT/Q-Former) plus a causal part.
x = torch.randn(2, 3, 4, 6, requires_grad=True)
keep = torch.ones(2, 1, 1, 6)
keep[0, ..., 4:] = 0
keep[1, ..., 5:] = 0
mask = (1 - keep) * -10000.0
r = torch.randn(2, 3, 4, 6)
y = torch.softmax(x + mask, dim=-1)
(y * r).sum().backward()
out.update({"softmax.x": x, "softmax.mask": mask, "softmax.r": r, "softmax.y": y, "softmax.dx": x.grad})

# Cross-entropy with ignore_index -100, with and without label smoothing.
logits = torch.randn(7, 11, requires_grad=True)
targets = torch.tensor([3, -100, 0, 10, 5, -100, 3])
out["ce.logits"], out["ce.targets"] = logits, targets
for eps, tag in [(0.0, "ce"), (0.1, "ce_smooth")]:
    lg = logits.detach().clone().requires_grad_()
    loss = F.cross_entropy(lg, targets, ignore_index=-100, label_smoothing=eps)
    loss.backward()
    out[tag + ".loss"], out[tag + ".dlogits"] = loss, lg.grad

# Three AdamW steps on a weight and a bias with fixed gradients per step.
w = torch.nn.Parameter(torch.randn(4, 5))
b = torch.nn.Parameter(torch.randn(5))
out["adamw.w0"], out["adamw.b0"] = w.detach().clone(), b.detach().clone()
opt = torch.optim.AdamW([w, b], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
for step in range(3):
    gw, gb = torch.randn(4, 5), torch.randn(5)
    w.grad, b.grad = gw, gb
    out["adamw.gw%d" % step], out["adamw.gb%d" % step] = gw, gb
    opt.step()
    out["adamw.w%d" % (step + 1)], out["adamw.b%d" % (step + 1)] = w.detach().clone(), b.detach().clone()

# Two SGD steps with momentum 0.9, Nesterov, weight decay 0.01.
w = torch.nn.Parameter(torch.randn(6))
out["sgd.w0"] = w.detach().clone()
opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
for step in range(2):
    g = torch.randn(6)
    w.grad = g
    out["sgd.g%d" % step] = g
    opt.step()
    out["sgd.w%d" % (step + 1)] = w.detach().clone()

save("testdata/core.safetensors", out, {"torch": torch.__version__})
