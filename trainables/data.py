"""The dataset API under its historical name; the implementation is `trainables.datasets`."""

from .datasets import (
    DATASETS,
    DataError,
    DatasetSpec,
    RawDataset,
    Split,
    Splits,
    check_dataset,
    dataset_names,
    dataset_spec,
    load_splits,
)

__all__ = ["DATASETS", "DataError", "DatasetSpec", "RawDataset", "Split", "Splits",
           "check_dataset", "dataset_names", "dataset_spec", "load_splits"]
