"""SAM 3 checkpoints with random weights, for tests and benchmarks that must not download.

``tiny`` scales the vision backbone and the text encoder down (hidden size 32, 2 layers,
224 px input) so it loads and runs on a CPU in seconds; ``full`` is the released model's
default configuration (about 840 M parameters): the same compute, meaningless masks.
Both come with a byte-level BPE tokenizer whose vocabulary is every byte symbol, with and
without the end-of-word mark, plus the start and end tokens, and no merges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

RandomSize = Literal["tiny", "full"]

TINY_IMAGE_SIZE = 224
TINY_HIDDEN = 32
_PATCH = 14
_TEXT_LENGTH = 32
_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """The printable stand-in character of each byte, as byte-level BPE tokenizers map them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    symbols: dict[int, str] = {code: chr(code) for code in printable}
    extra = 0
    for code in range(256):
        if code not in symbols:
            symbols[code] = chr(256 + extra)
            extra += 1
    return [symbols[code] for code in range(256)]


def byte_level_vocabulary() -> dict[str, int]:
    """Every byte symbol, alone and with ``</w>``, then the start and end tokens."""
    vocabulary: dict[str, int] = {}
    for symbol in _byte_symbols():
        vocabulary[symbol] = len(vocabulary)
    for symbol in _byte_symbols():
        vocabulary[f"{symbol}</w>"] = len(vocabulary)
    vocabulary[_BOS] = len(vocabulary)
    vocabulary[_EOS] = len(vocabulary)
    return vocabulary


def _tiny_config_kwargs(vocab_size: int) -> dict[str, Any]:
    grid = TINY_IMAGE_SIZE // _PATCH
    small = {"hidden_size": TINY_HIDDEN, "num_attention_heads": 2, "intermediate_size": 64}
    return {
        "vision_config": {
            "backbone_config": {
                "model_type": "sam3_vit_model",
                **small,
                "num_hidden_layers": 2,
                "image_size": TINY_IMAGE_SIZE,
                "pretrain_image_size": TINY_IMAGE_SIZE,
                "patch_size": _PATCH,
                "window_size": grid // 2,
                "global_attn_indexes": [1],
            },
            "fpn_hidden_size": TINY_HIDDEN,
            "backbone_feature_sizes": [[grid * 4, grid * 4], [grid * 2, grid * 2], [grid, grid]],
        },
        "text_config": {
            "model_type": "clip_text_model",
            **small,
            "vocab_size": vocab_size,
            "projection_dim": TINY_HIDDEN,
            "num_hidden_layers": 2,
            "max_position_embeddings": _TEXT_LENGTH,
            "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1,
            "pad_token_id": vocab_size - 1,
        },
        "geometry_encoder_config": {**small, "num_layers": 1},
        "detr_encoder_config": {**small, "num_layers": 1},
        "detr_decoder_config": {**small, "num_layers": 1, "num_queries": 8},
        "mask_decoder_config": {"hidden_size": TINY_HIDDEN, "num_attention_heads": 2},
    }


def save_random_sam3(directory: Path, size: RandomSize = "tiny", seed: int = 0) -> Path:
    """Write a loadable SAM 3 checkpoint (config, safetensors, tokenizer) to `directory`."""
    import torch
    from transformers import CLIPTokenizer, Sam3Config, Sam3Model

    directory.mkdir(parents=True, exist_ok=True)
    vocabulary = byte_level_vocabulary()
    tokenizer = CLIPTokenizer(
        vocab=vocabulary,
        merges=[],
        unk_token=_EOS,
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_EOS,
        model_max_length=_TEXT_LENGTH,
    )
    config = Sam3Config(**_tiny_config_kwargs(len(vocabulary))) if size == "tiny" else Sam3Config()
    torch.manual_seed(seed)
    model = Sam3Model(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
