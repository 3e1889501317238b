"""Where Dagster keeps each asset's value between steps: Dagster's pickle files, under a metadata key of their own.

Dagster's filesystem IO manager records the pickle it wrote as `path`, which replaces an asset's own `path` (the
dataset or table the asset is about) in the UI. Here the pickle is recorded as `stored_value` instead.
"""

import dagster as dg

STORED_VALUE_KEY = "stored_value"


class _KeepAssetPathIOManager(dg.IOManager):
    def __init__(self, pickles: dg.IOManager):
        self._pickles = pickles

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        self._pickles.handle_output(context, obj)
        logged = context.consume_logged_metadata()
        context.add_output_metadata({(STORED_VALUE_KEY if key == "path" else key): value
                                     for key, value in logged.items()})

    def load_input(self, context: dg.InputContext):
        return self._pickles.load_input(context)


class ValueStoreIOManager(dg.FilesystemIOManager):
    """Dagster's filesystem IO manager (pickles under the instance's storage folder, or `base_dir`), recording the
    pickle's location as `stored_value` so that an asset's own `path` metadata stays the file it describes."""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.IOManager:
        return _KeepAssetPathIOManager(super().create_io_manager(context))
