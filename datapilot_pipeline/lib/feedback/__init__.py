"""The feedback side of the pipeline: reviewers' files -> the inbox -> the feedback store.

- `collector`: `FeedbackCollector` and the feedback-file contract (what a reviewer writes).
- `inbox`: reading and naming inbox files.
- `ingest`: the inbox into the store, then out of the inbox; the store read back as tables.
- `tables`: the store's row shapes (feedback, decisions).
- `store`: the SQLAlchemy feedback store (SQLite by default, PostgreSQL in team mode).
- `sensor_state`: the new-feedback sensor's cursor and scan.
- `review_queue`: which job results a reviewer has still to review.

Kept free of imports so that `import datapilot_pipeline.lib.feedback.inbox` stays cheap.
"""
