"""A hostile inbox: hundreds of bad files beside good ones, with what a correct reader must keep."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from datapilot_pipeline.lib.feedback.inbox import feedback_filename


@dataclass
class HostileInbox:
    path: Path
    good_ids: set[str]                      # feedback_ids a correct reader keeps (each once)
    bad_files: list[str] = field(default_factory=list)
    duplicate_files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)  # a writer's temp file, the folder's README


def _name(fb: dict, tag: str) -> str:
    base = feedback_filename(fb["job_id"], fb["created_at"], fb["feedback_id"])
    return base.replace(".json", f"_{tag}.json")


def _mutations(fb: dict) -> list[tuple[str, object]]:
    """(tag, mutated document) pairs: every way a feedback file can be wrong."""
    out: list[tuple[str, object]] = []

    def mutate(tag: str, fn) -> None:
        doc = copy.deepcopy(fb)
        fn(doc)
        out.append((tag, doc))

    mutate("score_word", lambda d: d["items"][0].__setitem__("human_score", "five"))
    for bad in (0, 6, -1, 3.5, True):
        mutate(f"score_{bad}", lambda d, b=bad: d["items"][0].__setitem__("human_score", b))
        mutate(f"overall_{bad}", lambda d, b=bad: d.__setitem__("overall_score", b))
    mutate("action_unknown", lambda d: d["items"][0].__setitem__("action", "love"))
    mutate("insight_unknown", lambda d: d["items"][0].__setitem__("insight_id", "i999"))
    mutate("insight_twice", lambda d: d["items"].append(copy.deepcopy(d["items"][0])))
    for key in ("schema_version", "feedback_id", "job_id", "reviewer_id", "created_at", "overall_score",
                "compact_eda", "llm_output", "items"):
        mutate(f"missing_{key}", lambda d, k=key: d.pop(k))
    mutate("future_version", lambda d: d.__setitem__("schema_version", 2))
    for tag, value in (("path_job", "../../etc/passwd"), ("slash_job", "a/b"), ("dot_job", ".."),
                       ("space_job", "job 1"), ("long_job", "j" * 200), ("nul_job", "job\x00x")):
        mutate(tag, lambda d, v=value: d.__setitem__("job_id", v))
    mutate("path_reviewer", lambda d: d.__setitem__("reviewer_id", "../root"))
    mutate("bad_variant", lambda d: d.__setitem__("variant", "gpt"))
    mutate("bad_date", lambda d: d.__setitem__("created_at", "yesterday"))
    mutate("items_not_list", lambda d: d.__setitem__("items", {"a": 1}))
    mutate("eda_not_object", lambda d: d.__setitem__("compact_eda", "table"))
    mutate("no_insights", lambda d: d["llm_output"].__setitem__("insights", []))
    mutate("edit_without_edits", lambda d: d["items"].__setitem__(0, {
        "insight_id": d["items"][0]["insight_id"], "action": "edit", "human_score": 4}))
    mutate("extra_key", lambda d: d.__setitem__("surprise", 1))
    return out


def build_hostile_inbox(inbox: Path, good: list[dict]) -> HostileInbox:
    """Write `good` feedback dicts plus every kind of bad file into `inbox`."""
    inbox.mkdir(parents=True, exist_ok=True)
    result = HostileInbox(inbox, good_ids={fb["feedback_id"] for fb in good})
    for fb in good:
        (inbox / feedback_filename(fb["job_id"], fb["created_at"], fb["feedback_id"])).write_text(json.dumps(fb))

    def bad(name: str, data: bytes) -> None:
        (inbox / name).write_bytes(data)
        result.bad_files.append(name)

    for n, fb in enumerate(good):
        for tag, doc in _mutations(fb):
            bad(_name(fb, f"{tag}_{n}"), json.dumps(doc).encode())
        text = json.dumps(fb)
        bad(_name(fb, f"truncated_{n}"), text[: len(text) // 2].encode())
        bad(_name(fb, f"latin1_{n}"), text.replace("}", ', "notes": "caf\xe9"}', 1).encode("latin-1"))
    for tag, data in (("empty", b""), ("array", b"[1, 2]"), ("null", b"null"), ("number", b"42"),
                      ("string", b'"feedback"'), ("binary", bytes(range(256)) * 4), ("bom_garbage", b"\xef\xbb\xbf{"),
                      ("nested_deep", b"[" * 100_000)):
        bad(f"feedback_{tag}.json", data)
    big = dict(good[0], items=good[0]["items"], padding="x" * (6 * 1024 * 1024))
    bad("feedback_huge.json", json.dumps(big).encode())
    bad("notes.txt", b"reviewer scratch notes")
    bad("export.csv", b"a,b\n1,2\n")
    (inbox / "subdir.json").mkdir()
    result.bad_files.append("subdir.json")
    os.symlink("/etc/passwd", inbox / "feedback_link.json")
    result.bad_files.append("feedback_link.json")
    # The same feedback_id with other content, delivered later: the first delivery wins.
    conflict = dict(copy.deepcopy(good[-1]), overall_score=1 + good[-1]["overall_score"] % 5)
    bad(_name(conflict, "conflict"), json.dumps(conflict).encode())
    # Not deliveries at all: a writer's temp file mid-write (hidden name) and the README.
    for name, data in ((".feedback_inflight.json.x1y2.tmp", json.dumps(good[0]).encode()[:100]),
                       ("README.md", b"# Feedback inbox\n")):
        (inbox / name).write_bytes(data)
        result.ignored_files.append(name)
    # The same feedback delivered twice under two names: kept once.
    first = good[0]
    dup = feedback_filename(first["job_id"], first["created_at"], first["feedback_id"]).replace(".json", "_copy.json")
    (inbox / dup).write_text(json.dumps(first))
    result.duplicate_files.append(dup)
    # Delivered a while ago, in the order written: a young unparsable file would wait for the next ingestion.
    arrival = sorted(inbox.iterdir(), key=lambda p: (p.lstat().st_mtime_ns, p.name))
    for n, path in enumerate(arrival):
        os.utime(path, ns=(10**18 + n, 10**18 + n), follow_symlinks=False)
    return result
