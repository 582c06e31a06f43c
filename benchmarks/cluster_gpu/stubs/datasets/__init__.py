"""Stand-in for Hugging Face ``datasets`` on the offline GPU machine of the benchmarks.

``image-reward`` imports ``datasets.load_dataset`` at package import (for its ReFL training
code), which scoring never calls; the real package and its dependencies (pyarrow) are too large
to carry. Only benchmarks/cluster_gpu puts this folder on PYTHONPATH.
"""


def load_dataset(*args, **kwargs):
    raise RuntimeError("datasets is not installed here (benchmark stub)")
