#!/usr/bin/python3
"""Reference embeddings for models made by make_random_clip, from PyTorch.

An independent implementation of CLIP's forward pass (after openai/CLIP clip/model.py:
pre-LayerNorm residual blocks, nn.MultiheadAttention, QuickGELU or GELU, class-token
and end-token pooling, projections), reading the Hugging Face safetensors layout.
Run with Debian's python3-torch (1.13):

    /usr/bin/python3 tests/golden/make_torch_golden.py MODEL_DIR OUT_DIR

Inputs: the token ids of ../shared/data/clip-golden/tokens.txt and the pixel tensors of
pixels.f32. Writes text_embeddings.txt, pixel_embeddings.txt and model.xxh (nothing;
the C test records the model's fingerprint itself). CI only reads the outputs.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

model_dir, out_dir = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
shared = os.environ.get("VIDX_SHARED_DATA", os.path.join(here, "..", "..", "..", "shared", "data"))
torch.set_grad_enabled(False)

with open(os.path.join(model_dir, "config.json")) as f:
    cfg = json.load(f)
with open(os.path.join(model_dir, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
W = {}
for name, t in header.items():
    if name == "__metadata__":
        continue
    a, b = t["data_offsets"]
    if t["dtype"] == "BF16":
        raw = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
        arr = raw.view(np.float32)
    else:
        arr = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]])
    W[name] = torch.tensor(arr.astype(np.float32) if t["dtype"] != "I64" else arr).reshape(t["shape"])


def act(x, kind):
    return x * torch.sigmoid(1.702 * x) if kind == "quick_gelu" else F.gelu(x)


def tower(x, prefix, c, causal):
    width, heads = c["hidden_size"], c["num_attention_heads"]
    eps = c.get("layer_norm_eps", 1e-5)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}.encoder.layers.{i}."
        mha = torch.nn.MultiheadAttention(width, heads)
        mha.in_proj_weight.copy_(torch.cat([W[p + f"self_attn.{k}_proj.weight"] for k in "qkv"]))
        mha.in_proj_bias.copy_(torch.cat([W[p + f"self_attn.{k}_proj.bias"] for k in "qkv"]))
        mha.out_proj.weight.copy_(W[p + "self_attn.out_proj.weight"])
        mha.out_proj.bias.copy_(W[p + "self_attn.out_proj.bias"])
        h = F.layer_norm(x, (width,), W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], eps)
        L = h.shape[0]
        mask = torch.full((L, L), float("-inf")).triu_(1) if causal else None
        x = x + mha(h, h, h, need_weights=False, attn_mask=mask)[0]
        h = F.layer_norm(x, (width,), W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], eps)
        h = F.linear(h, W[p + "mlp.fc1.weight"], W[p + "mlp.fc1.bias"])
        x = x + F.linear(act(h, c.get("hidden_act", "quick_gelu")), W[p + "mlp.fc2.weight"], W[p + "mlp.fc2.bias"])
    return x


def encode_text(ids):
    c = cfg["text_config"]
    t = torch.tensor(ids)
    x = W["text_model.embeddings.token_embedding.weight"][t] + W["text_model.embeddings.position_embedding.weight"][: len(ids)]
    x = tower(x.unsqueeze(1), "text_model", c, True).squeeze(1)
    x = F.layer_norm(x, (c["hidden_size"],), W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], c.get("layer_norm_eps", 1e-5))
    pooled = x[t.argmax()]
    e = F.linear(pooled, W["text_projection.weight"])
    return e / e.norm()


def encode_image(px):
    c = cfg["vision_config"]
    w, p = c["hidden_size"], c["patch_size"]
    x = F.conv2d(px.unsqueeze(0), W["vision_model.embeddings.patch_embedding.weight"], stride=p)
    x = x.reshape(w, -1).t()
    x = torch.cat([W["vision_model.embeddings.class_embedding"].unsqueeze(0), x]) + W["vision_model.embeddings.position_embedding.weight"]
    eps = c.get("layer_norm_eps", 1e-5)
    x = F.layer_norm(x, (w,), W["vision_model.pre_layrnorm.weight"], W["vision_model.pre_layrnorm.bias"], eps)
    x = tower(x.unsqueeze(1), "vision_model", c, False).squeeze(1)
    pooled = F.layer_norm(x[0], (w,), W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], eps)
    e = F.linear(pooled, W["visual_projection.weight"])
    return e / e.norm()


def write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join("%.9g" % v for v in r.tolist()) + "\n")


os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(shared, "clip-golden", "tokens.txt")) as f:
    token_lists = [list(map(int, line.split())) for line in f if line.strip()]
write(os.path.join(out_dir, "text_embeddings.txt"), [encode_text(ids) for ids in token_lists])
S = cfg["vision_config"]["image_size"]
pixels = torch.tensor(np.fromfile(os.path.join(shared, "clip-golden", "pixels.f32"), dtype="<f4")).reshape(-1, 3, S, S)
write(os.path.join(out_dir, "pixel_embeddings.txt"), [encode_image(p) for p in pixels])
print("wrote", out_dir, len(token_lists), "texts,", len(pixels), "images", file=sys.stderr)
