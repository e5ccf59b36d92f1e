from .check import (DatasetError, DatasetNotFoundError, DatasetWarning,
                    check_coco_annotations, check_dataset_files,
                    loader_data_paths)
from .converters import (IMAGE_SUFFIXES, Box, LabeledImage, read_csv,
                         read_voc, read_voc_folder, read_yolo, relabel,
                         to_coco, write_json)
from .samplers import SkippableBatchSampler
from .seeding import SeededDataset
from .tiling import (TileRule, cut_box, draw_val_images, file_names_of,
                     read_image_list, split_by_source, tile_coco,
                     tile_windows, voc_image_sets)
from .toy import TOY_CLASSES, ToyShapesDataset, ToyShapesSpec, make_toy_coco

__all__ = [
    'DatasetError', 'DatasetNotFoundError', 'DatasetWarning',
    'check_coco_annotations', 'check_dataset_files', 'loader_data_paths',
    'IMAGE_SUFFIXES', 'Box',
    'LabeledImage', 'read_csv', 'read_voc', 'read_voc_folder', 'read_yolo',
    'relabel', 'to_coco', 'write_json', 'SkippableBatchSampler',
    'SeededDataset', 'TileRule',
    'cut_box', 'draw_val_images', 'file_names_of', 'read_image_list',
    'split_by_source', 'tile_coco', 'tile_windows', 'voc_image_sets',
    'TOY_CLASSES',
    'ToyShapesDataset', 'ToyShapesSpec', 'make_toy_coco'
]
