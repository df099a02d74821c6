"""Setting SAM 3 up: the checkpoint and device checked, the runtime imported, compilation.

Every problem a worker can have at start (no weights, a foreign checkpoint, a missing
extra, an absent GPU) is one ConfigurationError naming the variable to fix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from s3api.common.errors import ConfigurationError

logger = logging.getLogger(__name__)

SAM3_MODEL_TYPES = frozenset({"sam3", "sam3_video"})
COMPILE_CACHE_FILE = "sam3-compile-artifacts.bin"
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.5, 0.5, 0.5)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
_INSTALL_HINT = "install the extra: pip install '.[sam3]' (torch, transformers, safetensors)"
FETCH_HINT = "download facebook/sam3 where you have access and point SAM3_MODEL at that directory"


def import_runtime() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ConfigurationError(
            f"WORKER_ENGINE=sam3 needs torch and transformers ({exc.name} is missing): "
            f"{_INSTALL_HINT}"
        ) from exc
    if not hasattr(transformers, "Sam3Model"):
        raise ConfigurationError(
            f"WORKER_ENGINE=sam3 needs transformers 5 or later "
            f"(found {transformers.__version__}): {_INSTALL_HINT}"
        )
    return torch, transformers


def resolve_device(requested: str, torch: Any) -> Any:
    """WORKER_DEVICE as a torch.device; CUDA asked for but absent is a configuration error."""
    value = requested.strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", value)
    if match is None:
        raise ConfigurationError(
            f"WORKER_DEVICE={requested!r} is not a device: set it to auto, cpu, cuda or cuda:N"
        )
    if not torch.cuda.is_available():
        raise ConfigurationError(
            f"WORKER_DEVICE={requested} but torch sees no CUDA device: install a CUDA build "
            "of torch on a GPU machine, or set WORKER_DEVICE=cpu (or auto)"
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ConfigurationError(
            f"WORKER_DEVICE={requested} but only {torch.cuda.device_count()} CUDA device(s) "
            "exist: pick one of them or set WORKER_DEVICE=cuda"
        )
    return torch.device(f"cuda:{index}")


def resolve_model_source(value: str | None) -> str:
    """SAM3_MODEL checked: a local SAM 3 directory, or something shaped like a hub id."""
    if value is None or not value.strip():
        raise ConfigurationError(
            "WORKER_ENGINE=sam3 needs SAM3_MODEL: set it to a directory holding the SAM 3 "
            f"weights (config.json, model.safetensors, tokenizer files); {FETCH_HINT}"
        )
    path = Path(value).expanduser()
    if path.is_dir():
        _check_checkpoint_directory(path)
        return str(path)
    if path.exists() or not _HUB_ID.match(value) or value.startswith((".", "/", "~")):
        raise ConfigurationError(
            f"SAM3_MODEL={value} is not a directory: {FETCH_HINT} (or give a hub id)"
        )
    return value


def _check_checkpoint_directory(path: Path) -> None:
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigurationError(
            f"SAM3_MODEL={path} is not a SAM 3 checkpoint (no readable config.json): {FETCH_HINT}"
        ) from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SAM3_MODEL_TYPES:
        raise ConfigurationError(
            f"SAM3_MODEL={path} is not a SAM 3 checkpoint (config.json model_type is "
            f"{model_type!r}, expected 'sam3'): {FETCH_HINT}"
        )
    for kind, names in (("weights", _WEIGHT_FILES), ("tokenizer", _TOKENIZER_FILES)):
        if not any((path / name).is_file() for name in names):
            raise ConfigurationError(
                f"SAM3_MODEL={path} has no {kind} file ({' or '.join(names)}): {FETCH_HINT}"
            )


def input_geometry(source: str, config: Any) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """Input side, mean and std: the checkpoint's preprocessor config where it has one."""
    side = int(config.vision_config.image_size)
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    preprocessor = Path(source) / "preprocessor_config.json"
    if preprocessor.is_file():
        raw = json.loads(preprocessor.read_text(encoding="utf-8"))
        mean = tuple(raw.get("image_mean", mean))
        std = tuple(raw.get("image_std", std))
    return side, mean, std


def enable_compilation(model: Any, torch: Any, cache_dir: Path) -> None:
    """torch.compile the vision encoder, with the compiler's artifacts cached on disk.

    The Inductor cache lives in `cache_dir` and the portable artifacts are reloaded at
    start, so a restarted worker reuses the kernels instead of autotuning again.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "inductor"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "1")
    artifacts = cache_dir / COMPILE_CACHE_FILE
    if artifacts.is_file():
        torch.compiler.load_cache_artifacts(artifacts.read_bytes())
        logger.info("loaded compiled kernels from %s", artifacts)
    model.vision_encoder = torch.compile(model.vision_encoder, mode="max-autotune", dynamic=False)


def save_compilation_artifacts(torch: Any, cache_dir: Path) -> None:
    """Keep what compiling produced, for the next start (after the warm-up has run)."""
    saved = torch.compiler.save_cache_artifacts()
    if saved is not None:
        (cache_dir / COMPILE_CACHE_FILE).write_bytes(saved[0])
