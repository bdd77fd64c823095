#!/usr/bin/python3
"""Checks that make_random_clip's pytorch_model.bin files are what torch.save writes: Debian's
torch (1.13) loads each of them and every tensor equals the model.safetensors twin's.

    /usr/bin/python3 tests/golden/check_bin_with_torch.py SAFETENSORS_DIR BIN_DIR...

(make_random_clip with the same --seed and --preset writes the same values in every
format.) A developer's check, run when the writer changes; CI reads the committed files of
tests/golden/torch instead, which torch itself wrote.
"""
import json
import os
import struct
import sys

import numpy as np
import torch


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype={"F32": np.float32, "F16": np.float16, "I64": np.int64}[t["dtype"]])
        out[name] = arr.reshape(t["shape"])
    return out


def bins(folder):
    index = os.path.join(folder, "pytorch_model.bin.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["pytorch_model.bin"]
    out = {}
    for f in files:
        out.update(torch.load(os.path.join(folder, f)))
    return out


ref = safetensors(os.path.join(sys.argv[1], "model.safetensors"))
bad = 0
for folder in sys.argv[2:]:
    sd = bins(folder)
    if set(sd) != set(ref):
        print(folder, "names differ:", sorted(set(sd) ^ set(ref))[:5])
        bad += 1
        continue
    for name, t in sd.items():
        got = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        if got.shape != ref[name].shape or not np.array_equal(got, ref[name].astype(got.dtype)):
            print(folder, name, "differs")
            bad += 1
    print(folder, "ok" if not bad else "FAILED", len(sd), "tensors")
sys.exit(1 if bad else 0)
