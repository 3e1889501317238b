"""Anthropic fine-tuning goes through Amazon Bedrock (Claude 3 Haiku); there is no public Anthropic API
for it. This backend writes the Bedrock training file and returns the upload and job steps to run."""

from __future__ import annotations

from pathlib import Path

from datapilot_pipeline.lib.atomic import atomic_write_jsonl
from datapilot_pipeline.lib.vendors import chat_rows

BEDROCK_BASE_MODEL = "anthropic.claude-3-haiku-20240307-v1:0:200k"


def bedrock_rows(dataset: Path) -> list[dict]:
    """Bedrock's Claude format: `{"system": ..., "messages": [{"role": "user"|"assistant", "content": ...}]}`."""
    out = []
    for row in chat_rows(dataset):
        system = "\n".join(m["content"] for m in row["messages"] if m["role"] == "system")
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"] if m["role"] != "system"]
        out.append({"system": system, "messages": messages} if system else {"messages": messages})
    return out


def write_bedrock_file(dataset: Path, out_path: Path, n_epochs: int = 3,
                       learning_rate_multiplier: float = 1.0) -> tuple[Path, str]:
    """(the written Bedrock JSONL, the commands that upload it and start the customization job)."""
    path = atomic_write_jsonl(out_path, bedrock_rows(dataset))
    steps = f"""Anthropic fine-tuning runs on Amazon Bedrock (no public Anthropic API). With AWS credentials:
  1. aws s3 cp {path} s3://YOUR_BUCKET/datapilot/{path.name}
  2. aws bedrock create-model-customization-job --customization-type FINE_TUNING \\
       --job-name datapilot-$(date +%Y%m%d%H%M%S) --custom-model-name datapilot-insights \\
       --role-arn arn:aws:iam::ACCOUNT:role/BedrockFineTuning \\
       --base-model-identifier {BEDROCK_BASE_MODEL} \\
       --training-data-config s3Uri=s3://YOUR_BUCKET/datapilot/{path.name} \\
       --output-data-config s3Uri=s3://YOUR_BUCKET/datapilot/output/ \\
       --hyper-parameters epochCount={n_epochs},learningRateMultiplier={learning_rate_multiplier}
  3. aws bedrock get-model-customization-job --job-identifier JOB_ARN   (until Completed)
  4. Buy provisioned throughput for the custom model, then point the endpoint settings at it."""
    return path, steps
