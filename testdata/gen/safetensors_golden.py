"""Writes testdata/safetensors/golden.safetensors with PyTorch's conversions.

Run from the module root with Debian's python3-torch (1.13 has no safetensors
package, so the file is assembled here with json and struct, the way the
reference writer lays it out):

    /usr/bin/python3 testdata/gen/safetensors_golden.py

Tensors (Go's TestGoldenSafetensors reads them):
  f32                 F32  (3, 4)  randn, seed 0
  f64                 F64  (2, 3)  randn, seed 1
  f16, bf16           F16 / BF16 special values (zeros, subnormals, extremes,
                      infinities, NaN) and random values
  f16_as_f32,         F32  the same tensors widened by PyTorch (.float())
  bf16_as_f32
  src                 F32  values that are not representable in 16 bits,
                      including ties
  src_to_f16,         F16 / BF16  src narrowed by PyTorch (.half(), .bfloat16())
  src_to_bf16
  ids                 I64  (1, 6)  arange
  ids32               I32  (2, 2)
"""
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "safetensors", "golden.safetensors")

DTYPES = {
    torch.float64: ("F64", torch.int64),
    torch.float32: ("F32", torch.int32),
    torch.float16: ("F16", torch.int16),
    torch.bfloat16: ("BF16", torch.int16),
    torch.int64: ("I64", torch.int64),
    torch.int32: ("I32", torch.int32),
}


def raw(t):
    """Little-endian bytes of t (numpy has no bfloat16: view the bits)."""
    name, bits = DTYPES[t.dtype]
    a = t.contiguous().view(bits).numpy()
    return name, a.astype(a.dtype.newbyteorder("<")).tobytes()


def save(tensors, metadata, path):
    # Reference layout: buffer ordered by element size (descending) then name,
    # header keys "__metadata__" first, padded with spaces to 8 bytes.
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header, data, pos = {"__metadata__": metadata}, b"", 0
    for k in order:
        dtype, b = raw(tensors[k])
        header[k] = {"dtype": dtype, "shape": list(tensors[k].shape), "data_offsets": [pos, pos + len(b)]}
        data += b
        pos += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def main():
    special = [0.0, -0.0, 1.0, -2.0, 0.5, 65504.0, -65504.0, 2.0**-14, 2.0**-24, 1023 * 2.0**-24,
               -(2.0**-24), float("inf"), float("-inf"), float("nan"), 0.1, 1.0 / 3]
    bf_special = [0.0, -0.0, 1.0, -3.0, 3.3895313892515355e38, 2.0**-126, 2.0**-133, -127 * 2.0**-133,
                  float("inf"), float("-inf"), float("nan"), 0.1, 1.0 / 3, 1e-30, 7.0, 255.0]
    g = torch.Generator().manual_seed(2)
    f16 = torch.cat([torch.tensor(special, dtype=torch.float16), torch.randn(8, generator=g).half()])
    bf16 = torch.cat([torch.tensor(bf_special, dtype=torch.bfloat16), torch.randn(8, generator=g).bfloat16()])
    one = 1.0
    src = torch.tensor([one + 2.0**-11, one + 3 * 2.0**-11, 65519.0, 65520.0, 2.0**-25, 3 * 2.0**-25,
                        one + 2.0**-8, one + 3 * 2.0**-8, 1e-8, -1e-40, 1e5, 3.4e38], dtype=torch.float32)
    src = torch.cat([src, torch.randn(20, generator=g) * 100])
    tensors = {
        "f32": torch.randn(3, 4, generator=torch.Generator().manual_seed(0)),
        "f64": torch.randn(2, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
        "f16": f16,
        "f16_as_f32": f16.float(),
        "bf16": bf16.reshape(4, 6),
        "bf16_as_f32": bf16.float().reshape(4, 6),
        "src": src,
        "src_to_f16": src.half(),
        "src_to_bf16": src.bfloat16(),
        "ids": torch.arange(6, dtype=torch.int64).reshape(1, 6),
        "ids32": torch.tensor([[-1, 2], [2**31 - 1, -(2**31)]], dtype=torch.int32),
    }
    save(tensors, {"format": "pt", "source": "testdata/gen/safetensors_golden.py"}, OUT)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
