"""The pyfunc model MLflow loads for a registered `datapilot-insights` version (MLflow "models from code": this
file is stored with the model and executed on load, so nothing is unpickled).

    model = mlflow.pyfunc.load_model("models:/datapilot-insights@candidate")
    model.predict({"compact_eda": json.dumps(eda)})   # -> DataFrame: llm_output (JSON text), schema_pass

Artifacts: `adapter` (the LoRA adapter, safetensors) and `shots` (the worked examples of the prompt recipe the
model was trained with). Model config: `base_model` (a local directory; base weights are not copied into
every version) and `max_new_tokens`.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
from mlflow.pyfunc import PythonModel


class InsightsModel(PythonModel):
    def load_context(self, context) -> None:
        from datapilot_pipeline.lib.evaluation.local import LocalGenerator
        from datapilot_pipeline.lib.jsonl import iter_jsonl

        config = context.model_config or {}
        shots_path = (context.artifacts or {}).get("shots")
        self._shots = [row for _, row in iter_jsonl(shots_path)] if shots_path else []
        self._generator = LocalGenerator(base_model=Path(config["base_model"]),
                                         adapter_dir=Path(context.artifacts["adapter"]),
                                         max_new_tokens=int(config.get("max_new_tokens", 384)))

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from datapilot_pipeline.lib.evidence import check_output
        from datapilot_pipeline.lib.prompts import build_messages, build_prompt

        edas = [json.loads(v) if isinstance(v, str) else v for v in model_input["compact_eda"]]
        prompts = [build_prompt(eda, self._shots) for eda in edas]
        texts = [g.text for g in self._generator.generate_all(prompts, [build_messages(e, self._shots) for e in edas])]
        checks = [check_output(text, eda) for text, eda in zip(texts, edas)]
        outputs = [c.output.model_dump_json(exclude_none=True) if c.schema_pass and c.output is not None else text
                   for c, text in zip(checks, texts)]
        return pd.DataFrame({"llm_output": outputs, "schema_pass": [c.schema_pass for c in checks]})


mlflow.models.set_model(InsightsModel())
