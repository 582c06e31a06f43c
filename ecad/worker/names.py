"""Queue and task names shared by the workers and their clients."""

GPU_QUEUE = "gpu"
#: One shard of work; its only argument is a :class:`ecad.search.task.ShardTask` JSON object.
RUN_SHARD = "ecad.run_shard"
