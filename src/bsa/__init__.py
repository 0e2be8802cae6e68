"""bsa-bench: the Beyond Safe Answers benchmark (arXiv 2505.19690) for large reasoning models.

The public API is re-exported here; the ``bsa`` command is a thin layer over it.
"""

from __future__ import annotations

from bsa.assets import (
    JudgeTemplate,
    JudgeTemplates,
    SafetyRules,
    load_judge_templates,
    load_safety_rules,
)
from bsa.dataset import Dataset, DatasetSource, load_dataset
from bsa.dataset_export import export_items
from bsa.errors import (
    BsaError,
    DatasetError,
    IntegrityError,
    MissingExtraError,
    SourceError,
    TemplateError,
)
from bsa.items import Item, Risk
from bsa.selection import Selection, SelectionError, select, stratified_sample
from bsa.stats import DatasetStats, dataset_stats
from bsa.taxonomy import CATEGORIES, PRIMARY_CATEGORIES, SUB_CATEGORIES, Scenario

__version__ = "0.1.0"

__all__ = [
    "CATEGORIES",
    "PRIMARY_CATEGORIES",
    "SUB_CATEGORIES",
    "BsaError",
    "Dataset",
    "DatasetError",
    "DatasetSource",
    "DatasetStats",
    "IntegrityError",
    "Item",
    "JudgeTemplate",
    "JudgeTemplates",
    "MissingExtraError",
    "Risk",
    "SafetyRules",
    "Scenario",
    "Selection",
    "SelectionError",
    "SourceError",
    "TemplateError",
    "__version__",
    "dataset_stats",
    "export_items",
    "load_dataset",
    "load_judge_templates",
    "load_safety_rules",
    "select",
    "stratified_sample",
]
