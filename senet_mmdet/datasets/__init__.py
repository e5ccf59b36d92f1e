from .check import (DatasetError, DatasetNotFoundError, DatasetWarning,
                    check_coco_annotations, check_dataset_files)
from .toy import TOY_CLASSES, ToyShapesDataset, ToyShapesSpec, make_toy_coco

__all__ = [
    'DatasetError', 'DatasetNotFoundError', 'DatasetWarning',
    'check_coco_annotations', 'check_dataset_files', 'TOY_CLASSES',
    'ToyShapesDataset', 'ToyShapesSpec', 'make_toy_coco'
]
