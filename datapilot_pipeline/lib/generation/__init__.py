"""Local generation: the base model and its tokenizer, the reply schema, constrained decoding, token counts.

- `modeling`: resolving and loading a base model (demo base, packaged or local folder, cached hub id), its adapter,
  one shared base per process, batched greedy generation.
- `decoding`: the llm_output contract as a bounded JSON Schema and the length bounds that fit a reply budget.
- `guided`: llguidance applying that schema token by token (a transformers logits processor).
- `token_budget`: token counts through the chat template, as TRL tokenizes (export, validation and training agree).
- `packaged_models`: base models a registry package ships (SmolLM2-135M-Instruct's GGUF), converted once.
- `model_dirs`: what a model folder is and its atomic publish.
"""
