#!/usr/bin/python3
"""A small multilingual text tower with random weights, in the layout
sentence-transformers publishes for clip-ViT-B-32-multilingual-v1, and its reference
embeddings from PyTorch's own transformer layer.

Run with Debian's python3-torch (1.13), never in CI (its outputs are committed):

    /usr/bin/python3 tests/golden/make_mtext_golden.py tests/golden/mtext

Writes, into OUT/model (and OUT/hub: the same model as the hub publishes it, in
safetensors, with vocab.txt and tokenizer_config.json too): modules.json, config.json (DistilBertConfig), pytorch_model.bin
(torch.save of DistilBertModel's state dict names), tokenizer.json (a WordPiece of 512
pieces in the published layout), sentence_bert_config.json, 1_Pooling/config.json,
2_Dense/config.json and 2_Dense/pytorch_model.bin; and OUT/golden.json: token id
sequences and their embeddings.

The reference is independent of vidx's C: nn.TransformerEncoderLayer is the
post-LayerNorm GELU block DistilBERT uses (its in_proj is q, k and v stacked), eps 1e-12,
then the mean of every token's output, the Dense layer without bias, L2-normalised.
"""
import json
import os
import sys

import torch
import torch.nn as nn

out = sys.argv[1]
model = os.path.join(out, "model")
os.makedirs(os.path.join(model, "1_Pooling"), exist_ok=True)
os.makedirs(os.path.join(model, "2_Dense"), exist_ok=True)
torch.manual_seed(20261208)
torch.set_grad_enabled(False)

D, LAYERS, HEADS, FFN, POS, OUT = 32, 2, 4, 64, 40, 16

# ---- the tokenizer: 512 pieces where multilingual BERT keeps its specials ----
vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
for c in range(0x21, 0x7F):
    vocab += [chr(c), "##" + chr(c)]
vocab += ["厨", "房", "里", "的", "鹦", "鹉", "猫", "狗", "Кошка", "играет", "the", "parrot", "kitchen", "##ing"]
vocab += [f"w{i}" for i in range(512 - len(vocab))]
assert len(vocab) == 512 and len(set(vocab)) == 512
V = len(vocab)
special = lambda t: {"id": vocab.index(t), "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                     "normalized": False, "special": True}
tokenizer = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [special(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None,
                   "lowercase": False},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                       "special_tokens": {t: {"id": t, "ids": [vocab.index(t)], "tokens": [t]} for t in ("[CLS]", "[SEP]")}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {p: i for i, p in enumerate(vocab)}},
}

# ---- the configs, as published (with this model's sizes) ----
def write_json(path, obj):
    with open(os.path.join(model, path), "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)

write_json("tokenizer.json", tokenizer)
write_json("config.json", {"_name_or_path": "random", "activation": "gelu", "architectures": ["DistilBertModel"],
                           "attention_dropout": 0.1, "dim": D, "dropout": 0.1, "hidden_dim": FFN,
                           "initializer_range": 0.02, "max_position_embeddings": POS, "model_type": "distilbert",
                           "n_heads": HEADS, "n_layers": LAYERS, "output_past": True, "pad_token_id": 0,
                           "qa_dropout": 0.1, "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
                           "tie_weights_": True, "torch_dtype": "float32", "transformers_version": "4.8.2",
                           "vocab_size": V})
write_json("modules.json", [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}])
write_json("sentence_bert_config.json", {"max_seq_length": 32, "do_lower_case": False})
write_json("1_Pooling/config.json", {"word_embedding_dimension": D, "pooling_mode_cls_token": False,
                                     "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
                                     "pooling_mode_mean_sqrt_len_tokens": False})
write_json("2_Dense/config.json", {"in_features": D, "out_features": OUT, "bias": False,
                                   "activation_function": "torch.nn.modules.linear.Identity"})

# ---- random weights under DistilBertModel's names (biases and LayerNorms too) ----
r = lambda *s: torch.randn(*s) * 0.5
state = {"embeddings.word_embeddings.weight": r(V, D), "embeddings.position_embeddings.weight": r(POS, D),
         "embeddings.LayerNorm.weight": 1 + r(D) * 0.2, "embeddings.LayerNorm.bias": r(D) * 0.2}
for i in range(LAYERS):
    p = f"transformer.layer.{i}."
    for lin, (o, n) in {"attention.q_lin": (D, D), "attention.k_lin": (D, D), "attention.v_lin": (D, D),
                        "attention.out_lin": (D, D), "ffn.lin1": (FFN, D), "ffn.lin2": (D, FFN)}.items():
        state[p + lin + ".weight"] = r(o, n) / (n ** 0.5) * 2
        state[p + lin + ".bias"] = r(o) * 0.2
    for ln in ("sa_layer_norm", "output_layer_norm"):
        state[p + ln + ".weight"] = 1 + r(D) * 0.2
        state[p + ln + ".bias"] = r(D) * 0.2
torch.save(state, os.path.join(model, "pytorch_model.bin"))
dense = {"linear.weight": r(OUT, D) / (D ** 0.5)}
torch.save(dense, os.path.join(model, "2_Dense", "pytorch_model.bin"))


def save_safetensors(tensors, path):
    """The safetensors layout (an 8-byte header length, the JSON header, the bytes), F32."""
    header, blobs, at = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


# The repository as the hub publishes it (OUT/hub: what test_download's stand-in hub
# serves): safetensors weights, tokenizer.json with vocab.txt and tokenizer_config.json.
hub = os.path.join(out, "hub")
for sub in ("1_Pooling", "2_Dense"):
    os.makedirs(os.path.join(hub, sub), exist_ok=True)
for name in ("modules.json", "config.json", "sentence_bert_config.json", "tokenizer.json", "1_Pooling/config.json",
             "2_Dense/config.json"):
    with open(os.path.join(model, name), "rb") as src, open(os.path.join(hub, name), "wb") as dst:
        dst.write(src.read())
save_safetensors(state, os.path.join(hub, "model.safetensors"))
save_safetensors(dense, os.path.join(hub, "2_Dense", "model.safetensors"))
with open(os.path.join(hub, "vocab.txt"), "w") as f:
    f.write("".join(p + "\n" for p in vocab))
with open(os.path.join(hub, "tokenizer_config.json"), "w") as f:
    json.dump({"do_lower_case": False, "model_max_length": 512, "tokenize_chinese_chars": True, "strip_accents": None,
               "tokenizer_class": "DistilBertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]",
               "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}, f, indent=2)

# ---- the reference forward pass ----
layers = []
for i in range(LAYERS):
    p = f"transformer.layer.{i}."
    L = nn.TransformerEncoderLayer(D, HEADS, FFN, dropout=0.0, activation="gelu", layer_norm_eps=1e-12,
                                   batch_first=True, norm_first=False)
    L.self_attn.in_proj_weight.copy_(torch.cat([state[p + f"attention.{x}_lin.weight"] for x in "qkv"]))
    L.self_attn.in_proj_bias.copy_(torch.cat([state[p + f"attention.{x}_lin.bias"] for x in "qkv"]))
    L.self_attn.out_proj.weight.copy_(state[p + "attention.out_lin.weight"])
    L.self_attn.out_proj.bias.copy_(state[p + "attention.out_lin.bias"])
    L.linear1.weight.copy_(state[p + "ffn.lin1.weight"])
    L.linear1.bias.copy_(state[p + "ffn.lin1.bias"])
    L.linear2.weight.copy_(state[p + "ffn.lin2.weight"])
    L.linear2.bias.copy_(state[p + "ffn.lin2.bias"])
    L.norm1.weight.copy_(state[p + "sa_layer_norm.weight"])
    L.norm1.bias.copy_(state[p + "sa_layer_norm.bias"])
    L.norm2.weight.copy_(state[p + "output_layer_norm.weight"])
    L.norm2.bias.copy_(state[p + "output_layer_norm.bias"])
    layers.append(L.eval())


def embed(ids):
    t = torch.tensor(ids)
    x = state["embeddings.word_embeddings.weight"][t] + state["embeddings.position_embeddings.weight"][: len(ids)]
    x = torch.nn.functional.layer_norm(x, (D,), state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"],
                                       1e-12)[None]
    for L in layers:
        x = L(x)
    v = x[0].mean(0) @ dense["linear.weight"].T
    return (v / v.norm()).tolist()


ids = {p: i for i, p in enumerate(vocab)}
cases = [[ids["[CLS]"], ids["[SEP]"]],
         [ids["[CLS]"]] + [ids[c] for c in "厨房里的鹦鹉"] + [ids["[SEP]"]],
         [ids["[CLS]"], ids["Кошка"], ids["играет"], ids["[SEP]"]],
         [ids["[CLS]"], ids["the"], ids["parrot"], ids["[UNK]"], ids["kitchen"], ids["[MASK]"], ids["[SEP]"]]]
g = torch.Generator().manual_seed(7)
cases += [[ids["[CLS]"]] + torch.randint(104, V, (n - 2,), generator=g).tolist() + [ids["[SEP]"]] for n in (5, 17, 32)]
with open(os.path.join(out, "golden.json"), "w") as f:
    json.dump({"made_by": f"PyTorch {torch.__version__} nn.TransformerEncoderLayer",
               "cases": [{"ids": c, "embedding": embed(c)} for c in cases]}, f)
print(f"{len(cases)} cases, {V} pieces, {sum(t.numel() for t in state.values())} weights")
