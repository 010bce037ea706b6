"""Shared helpers of quarry's peer benchmarks (run with the torch venv, see Makefile `bench`).

- gguf_to_hf(): exports a BERT GGUF's weights to a Hugging Face / sentence-transformers folder,
  so PyTorch runs exactly the same weights as quarry.
- machine(): CPU model, cores, threads, for every report line.
"""
import json
import os
import platform
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "ref"))
from numpy_bert import read_gguf  # noqa: E402  (our own GGUF parser, numpy only)


def _hf_name(gname):
    """GGUF tensor name -> Hugging Face BertModel parameter name."""
    fixed = {
        "token_embd.weight": "embeddings.word_embeddings.weight",
        "position_embd.weight": "embeddings.position_embeddings.weight",
        "token_types.weight": "embeddings.token_type_embeddings.weight",
        "token_embd_norm.weight": "embeddings.LayerNorm.weight",
        "token_embd_norm.bias": "embeddings.LayerNorm.bias",
        "cls.weight": "pooler.dense.weight",
        "cls.bias": "pooler.dense.bias",
        "cls.output.weight": "classifier.weight",
        "cls.output.bias": "classifier.bias",
    }
    if gname in fixed:
        return fixed[gname]
    _, i, rest = gname.split(".", 2)
    p = f"encoder.layer.{i}."
    m = {
        "attn_q": "attention.self.query", "attn_k": "attention.self.key", "attn_v": "attention.self.value",
        "attn_output": "attention.output.dense", "attn_output_norm": "attention.output.LayerNorm",
        "ffn_up": "intermediate.dense", "ffn_down": "output.dense", "layer_output_norm": "output.LayerNorm",
    }
    base, kind = rest.rsplit(".", 1)
    return p + m[base] + "." + kind


def gguf_to_hf(gguf_path, out_dir, vocab_path):
    """Writes config.json, model.safetensors, vocab/tokenizer files and the sentence-transformers
    modules (Transformer, Pooling, Normalize) for a bi-encoder, or a BertForSequenceClassification
    folder for a cross-encoder. Returns the metadata dict."""
    from safetensors.numpy import save_file

    meta, tensors = read_gguf(gguf_path)
    os.makedirs(out_dir, exist_ok=True)
    pooling = meta.get("bert.pooling_type", 1)
    rank = pooling == 4
    state = {}
    for name, arr in tensors.items():
        hf = _hf_name(name)
        if not rank and (hf.startswith("pooler.") or hf.startswith("classifier.")):
            continue
        key = ("bert." + hf) if rank and not hf.startswith("classifier.") else hf
        state[key] = np.ascontiguousarray(arr.astype(np.float32))
    save_file(state, os.path.join(out_dir, "model.safetensors"))
    h = meta["bert.embedding_length"]
    cfg = {
        "architectures": ["BertForSequenceClassification" if rank else "BertModel"],
        "model_type": "bert", "hidden_act": "gelu", "hidden_size": h,
        "intermediate_size": meta["bert.feed_forward_length"],
        "num_hidden_layers": meta["bert.block_count"], "num_attention_heads": meta["bert.attention.head_count"],
        "max_position_embeddings": meta["bert.context_length"],
        "layer_norm_eps": float(meta["bert.attention.layer_norm_epsilon"]),
        "type_vocab_size": int(tensors["token_types.weight"].shape[0]),
        "vocab_size": int(tensors["token_embd.weight"].shape[0]),
        "pad_token_id": 0, "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    }
    if rank:
        labels = meta.get("bert.classifier.output_labels", ["LABEL_0"])
        cfg["id2label"] = {str(i): l for i, l in enumerate(labels)}
        cfg["label2id"] = {l: i for i, l in enumerate(labels)}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    shutil.copy(vocab_path, os.path.join(out_dir, "vocab.txt"))
    max_len = int(meta.get("quarry.max_seq_length", meta["bert.context_length"]))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": max_len,
                   "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                   "mask_token": "[MASK]", "tokenize_chinese_chars": True, "strip_accents": None}, f)
    if not rank:
        mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
        if meta.get("quarry.normalize", True):
            mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
            os.makedirs(os.path.join(out_dir, "2_Normalize"), exist_ok=True)
        with open(os.path.join(out_dir, "modules.json"), "w") as f:
            json.dump(mods, f)
        os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
        with open(os.path.join(out_dir, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": h, "pooling_mode_cls_token": pooling == 2,
                       "pooling_mode_mean_tokens": pooling == 1}, f)
        with open(os.path.join(out_dir, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": max_len, "do_lower_case": False}, f)
    return meta


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine()}


def quarry_bin():
    p = os.path.join(ROOT, "bin", "quarry")
    if not os.path.exists(p):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    return p
