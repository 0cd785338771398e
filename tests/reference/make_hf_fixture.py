#!/usr/bin/env python3
"""Writes tests/reference/hf_llama_tiny/ (a tiny random Llama as transformers' save_pretrained
writes it: config.json, generation_config.json, model.safetensors in f32 with the tied lm_head
dropped) and tests/reference/hf_llama_tiny.json (a token batch and the loss transformers computes
on it), so that the C++ import test runs without transformers. Needs the reference environment:
  bash launch/install_reference_env.sh && .venv-ref/bin/python tests/reference/make_hf_fixture.py
"""
import json
import os

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    torch.manual_seed(3)
    cfg = LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, initializer_range=0.2,
                      tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg).eval()
    out = os.path.join(HERE, "hf_llama_tiny")
    model.save_pretrained(out, safe_serialization=True)
    tokens = torch.randint(0, 61, (2, 11), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits = model(tokens[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 61), tokens[:, 1:].reshape(-1)).item()
    json.dump({"tokens": tokens.tolist(), "loss": loss, "transformers": transformers.__version__, "torch": torch.__version__},
              open(os.path.join(HERE, "hf_llama_tiny.json"), "w"), indent=1)
    print(f"wrote {out}: loss {loss:.6f}")


if __name__ == "__main__":
    main()
