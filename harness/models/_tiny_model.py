"""A tiny random-weight Llama in a local folder, for vLLM smoke tests where no weights can be downloaded.

``config.json`` (hidden 256, 4 heads of 64 (the CPU attention kernels need head_dim 64), 2 layers,
vocab 1000), a byte-level BPE tokenizer trained on the spot with ``tokenizers``, and a
``tokenizer_config.json`` with a chat template. Load it with ``load_format="dummy"``: the output is
gibberish, which proves the integration, not quality.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness._extras import require

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)

_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 64,
    "num_hidden_layers": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}


def make_tiny_llama(path: str | Path) -> Path:
    """Write the tiny model into ``path`` (created) and return it. Needs ``tokenizers`` (vllm extra)."""
    tk = require("tokenizers", "vllm-cpu")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tok = tk.Tokenizer(tk.models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ["def f(x):\n    return x + 1\n", "user: assistant: hello world, a test of the tokenizer"] * 50
    corpus += [f"token{i} " * 3 for i in range(300)]
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(out / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 2048,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=1))
    (out / "config.json").write_text(json.dumps(_CONFIG, indent=1))
    return out
