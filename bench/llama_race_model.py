#!/usr/bin/python3
"""Writes a Hugging Face Llama folder with random weights for the llama.cpp race (docs/RESULTS.md,
"GGUF: the race"): config.json, model.safetensors (bf16), tokenizer.json, tokenizer_config.json.

  /usr/bin/python3 bench/llama_race_model.py OUT_DIR [--shape 1b|tiny] [--seed 0]

--shape 1b: Llama-3.2-1B's shapes (hidden 2048, 16 layers, 32 heads, 8 KV heads, head dim 64,
intermediate 8192, vocabulary 128256, tied embeddings, RoPE theta 500000 with llama3 scaling,
RMSNorm eps 1e-5); max_position_embeddings 4096 (the race's context, not the model's 131072:
the shapes of every matrix are unchanged). --shape tiny: the same architecture at hidden 64, for
a quick check of the tooling.

Weights ~ normal(0, 0.02) (transformers' initializer_range), RMSNorm weights 1 + normal(0, 0.1)
(not all ones, so a misplaced norm shows). Timing does not depend on the values.

The tokenizer is synthetic but real: a byte-level BPE with Llama 3's split regex (llama.cpp
pre-tokenizer "llama-bpe"), the 256 byte symbols, merges of every byte pair and then of
(pair, byte) until the vocabulary is full, and Llama 3's 256 special tokens at 128000.. (tiny:
fewer merges and 2 special tokens). llama.cpp needs a tokenizer to load a GGUF; the race feeds
token ids directly, so its content does not affect the numbers.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

SPLIT_REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
               "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

SHAPES = {
    "1b": dict(hidden=2048, layers=16, heads=32, kv_heads=8, head_dim=64, inter=8192, vocab=128256, specials=256),
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, head_dim=16, inter=128, vocab=1024, specials=2),
}


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (byte-level BPE symbols)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer(vocab_size, specials):
    sym = [bytes_to_unicode()[b] for b in range(256)]
    vocab = {s: i for i, s in enumerate(sym)}
    merges = []
    regular = vocab_size - specials
    pairs = [(a, b) for a in sym for b in sym]
    for a, b in pairs:
        if len(vocab) >= regular:
            break
        vocab[a + b] = len(vocab)
        merges.append([a, b])
    for a, b in pairs:  # (pair, byte)
        if len(vocab) >= regular:
            break
        for c in sym:
            if len(vocab) >= regular:
                break
            vocab[a + b + c] = len(vocab)
            merges.append([a + b, c])
    names = ["<|begin_of_text|>", "<|end_of_text|>"] + [f"<|reserved_special_token_{i}|>" for i in range(specials - 2)]
    added = []
    for i, name in enumerate(names[:specials]):
        vocab[name] = regular + i
        added.append({"id": regular + i, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    assert len(vocab) == vocab_size
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_REGEX}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges},
    }
    cfg = {"bos_token": names[0], "eos_token": names[1], "add_bos_token": False,
           "tokenizer_class": "PreTrainedTokenizerFast"}
    return tok, cfg, regular


def tensors(s):
    H, F, V, L = s["hidden"], s["inter"], s["vocab"], s["layers"]
    q, kv = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
    yield "model.embed_tokens.weight", (V, H), "w"
    for i in range(L):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (H,), "n"
        yield p + "self_attn.q_proj.weight", (q, H), "w"
        yield p + "self_attn.k_proj.weight", (kv, H), "w"
        yield p + "self_attn.v_proj.weight", (kv, H), "w"
        yield p + "self_attn.o_proj.weight", (H, q), "w"
        yield p + "post_attention_layernorm.weight", (H,), "n"
        yield p + "mlp.gate_proj.weight", (F, H), "w"
        yield p + "mlp.up_proj.weight", (F, H), "w"
        yield p + "mlp.down_proj.weight", (H, F), "w"
    yield "model.norm.weight", (H,), "n"


def to_bf16(x):
    """float32 -> bfloat16 bits, round to nearest even (no NaN/inf here)."""
    u = x.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_safetensors(path, s, seed):
    rng = np.random.default_rng(seed)
    specs = list(tensors(s))
    header, off = {}, 0
    for name, shape, _ in specs:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for i, (name, shape, kind) in enumerate(specs):
            rows = shape[0]
            step = max(1, (1 << 24) // int(np.prod(shape[1:]) if len(shape) > 1 else 1))
            for r0 in range(0, rows, step):  # chunks of ~16M values: bounded memory
                sub = (min(step, rows - r0),) + tuple(shape[1:])
                x = rng.standard_normal(sub, dtype=np.float32)
                x = (1.0 + 0.1 * x) if kind == "n" else 0.02 * x
                f.write(to_bf16(np.ascontiguousarray(x, dtype=np.float32)).tobytes())
            print(f"\r  {i + 1}/{len(specs)} tensors", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    s = SHAPES[a.shape]
    os.makedirs(a.out, exist_ok=True)
    tok, tok_cfg, regular = tokenizer(s["vocab"], s["specials"])
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": regular, "eos_token_id": regular + 1, "head_dim": s["head_dim"], "hidden_act": "silu",
        "hidden_size": s["hidden"], "initializer_range": 0.02, "intermediate_size": s["inter"],
        "max_position_embeddings": 4096, "mlp_bias": False, "num_attention_heads": s["heads"],
        "num_hidden_layers": s["layers"], "num_key_value_heads": s["kv_heads"], "pretraining_tp": 1,
        "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                                 "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "use_cache": True,
        "vocab_size": s["vocab"],
    }
    for name, obj in (("config.json", config), ("tokenizer.json", tok), ("tokenizer_config.json", tok_cfg)):
        with open(os.path.join(a.out, name + ".tmp"), "w") as f:
            json.dump(obj, f, ensure_ascii=False, indent=None if name == "tokenizer.json" else 1)
        os.replace(os.path.join(a.out, name + ".tmp"), os.path.join(a.out, name))
    write_safetensors(os.path.join(a.out, "model.safetensors"), s, a.seed)
    print(f"wrote {a.out}/ ({a.shape}: vocab {s['vocab']}, {s['layers']} layers, hidden {s['hidden']})")


if __name__ == "__main__":
    main()
