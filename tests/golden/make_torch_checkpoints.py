#!/usr/bin/python3
"""PyTorch checkpoints written by Debian's torch (1.13), for the loader's tests.

    /usr/bin/python3 tests/golden/make_torch_checkpoints.py tests/golden/torch

Writes a small state dict the way a published pytorch_model.bin holds one (an
OrderedDict with _metadata, CLIP's key names, an int64 position_ids buffer) plus what the
reader must handle beyond that (F16 and BF16 storages, a transposed view, a slice at a
storage offset, two tensors sharing one storage, a Parameter), in both of torch.save's
formats:
  state-zip.bin      torch >= 1.6's zip archive
  state-legacy.bin   _use_new_zipfile_serialization=False (the format before 1.6)
  state.txt          each tensor: name, dtype, shape, then its values in row-major order
and a pickle that would run a command when Python unpickles it:
  evil.bin           torch.save of a dict holding an object whose __reduce__ is os.system
CI only reads these files; it never needs torch.
"""
import collections
import os
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

sd = collections.OrderedDict()
sd["text_model.embeddings.position_ids"] = torch.arange(77).reshape(1, 77)
sd["text_model.final_layer_norm.weight"] = torch.randn(6)
w = torch.randn(5, 3)
sd["text_projection.weight"] = w
sd["visual_projection.weight"] = w.t()  # a strided view of the same storage
halves = torch.randn(4, 6).half()
sd["vision_model.pre_layrnorm.bias"] = halves[1:3]  # a slice: storage offset 6
sd["vision_model.embeddings.class_embedding"] = torch.nn.Parameter(torch.randn(4).bfloat16(), requires_grad=False)
sd["logit_scale"] = torch.tensor(2.6592)
sd._metadata = collections.OrderedDict([("", {"version": 1}), ("text_model", {"version": 1})])

torch.save(sd, os.path.join(out, "state-zip.bin"))
torch.save(sd, os.path.join(out, "state-legacy.bin"), _use_new_zipfile_serialization=False)

names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
with open(os.path.join(out, "state.txt"), "w") as f:
    for name, t in sd.items():
        t = t.detach()
        vals = t.reshape(-1).tolist() if t.dtype == torch.int64 else t.float().reshape(-1).tolist()
        f.write("%s %s %s %s\n" % (name, names[t.dtype], ",".join(str(d) for d in t.shape) or "-",
                                   " ".join(repr(v) for v in vals)))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/vidx-evil-pickle-ran",))


torch.save({"weight": torch.zeros(2), "x": Evil()}, os.path.join(out, "evil.bin"))
