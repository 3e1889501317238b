"""The registered model as an MLflow model: a pyfunc (models from code, no pickle) wrapping base + LoRA adapter."""
