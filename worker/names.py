"""Queue and task names shared by the workers and their clients."""

GPU_QUEUE = "gpu"
GENERATE_SHARD = "ecad.generate_shard"
SCORE_SHARD = "ecad.score_shard"
