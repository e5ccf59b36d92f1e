from .check import (DatasetError, DatasetNotFoundError, DatasetWarning,
                    check_coco_annotations, check_dataset_files)
from .samplers import SkippableBatchSampler
from .toy import TOY_CLASSES, ToyShapesDataset, ToyShapesSpec, make_toy_coco

__all__ = [
    'DatasetError', 'DatasetNotFoundError', 'DatasetWarning',
    'check_coco_annotations', 'check_dataset_files', 'SkippableBatchSampler',
    'TOY_CLASSES', 'ToyShapesDataset', 'ToyShapesSpec', 'make_toy_coco'
]
