"""Shared helpers for the golden-file generators (run by hand, never by CI).

Golden files are safetensors files (an 8-byte little-endian header length,
a JSON header, then raw little-endian data) written here with json + struct
because Debian's PyTorch 1.13 has no safetensors package. Float tensors are
stored as F32, integer tensors as I64.
"""
import json
import os
import struct

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def save(relpath, tensors, metadata=None):
    """Write {name: tensor} to ROOT/relpath as safetensors."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(t)
        t = t.detach().contiguous()
        if t.dtype.is_floating_point:
            t, dtype = t.to(torch.float32), "F32"
        else:
            t, dtype = t.to(torch.int64), "I64"
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    path = os.path.join(ROOT, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("wrote", relpath, len(tensors), "tensors")


def grads(prefix, named):
    """Return {prefix+name: param.grad} for every (name, param) with a grad."""
    return {prefix + n: p.grad for n, p in named if p.grad is not None}
