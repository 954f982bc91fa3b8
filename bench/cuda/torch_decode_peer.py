"""PyTorch eager decode tokens/s of a Hugging Face decoder folder on the GPU: the peer of
bench/cuda/decode_bench (the same prompt ids, the same number of greedy single-token steps,
batch 1). transformers' model in bf16 (or fp16), eager PyTorch: no torch.compile, no CUDA graphs;
a DynamicCache, as `model.generate` uses by default. Each step's token is the argmax of the last
step's logits, read on the host (a `.item()`), as qforge's generation loop does.

  python3 torch_decode_peer.py HF_DIR [--prompt 32] [--tokens 128] [--repeats 3]
                               [--dtype bf16|fp16] [--attn eager|sdpa]
"""
import argparse
import statistics
import time

import torch
from transformers import AutoModelForCausalLM


def generate(model, prompt, tokens):
    ids = torch.tensor([prompt], device="cuda")
    with torch.inference_mode():
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        nxt = int(out.logits[0, -1].argmax().item())
        t1 = time.perf_counter()
        pkv = out.past_key_values
        chosen = []
        for _ in range(tokens):
            chosen.append(nxt)
            out = model(input_ids=torch.tensor([[nxt]], device="cuda"), past_key_values=pkv, use_cache=True)
            pkv = out.past_key_values
            nxt = int(out.logits[0, -1].argmax().item())
        torch.cuda.synchronize()
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1, chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    ap.add_argument("--attn", choices=["eager", "sdpa"], default="sdpa")
    a = ap.parse_args()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float16
    model = AutoModelForCausalLM.from_pretrained(a.hf_dir, torch_dtype=dtype, attn_implementation=a.attn).cuda().eval()
    prompt = [(17 + 31 * i) % 200 for i in range(a.prompt)]  # decode_bench's ids
    generate(model, prompt, a.tokens)  # warm-up
    tps, pre = [], []
    for _ in range(a.repeats):
        p, d, chosen = generate(model, prompt, a.tokens)
        tps.append(a.tokens / d)
        pre.append(p * 1e3)
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {a.dtype}, attention {a.attn}")
    print(f"PyTorch eager decode tokens/s: median {statistics.median(tps):.1f} (min {min(tps):.1f}, max {max(tps):.1f} "
          f"over {a.repeats} repeats); {1e3 / statistics.median(tps):.3f} ms/token; prefill {statistics.median(pre):.2f} ms")
    print("greedy ids (first 16): " + " ".join(str(t) for t in chosen[:16]))


if __name__ == "__main__":
    main()
