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
from bsa.generate import GenerationSettings, generate, prompts_from_items
from bsa.items import Item, Risk
from bsa.judge import judge_run
from bsa.metrics import DEFAULT_ALPHA, SampleScore, Scores, compute_scores
from bsa.panel_scoring import PanelScores, score_panel
from bsa.providers import ProviderOptions, create_provider
from bsa.reference import read_judged_csv, reference_scores
from bsa.report import write_report
from bsa.runner import Execution, RetryPolicy, RunAborted
from bsa.scoring import read_verdicts, score_run
from bsa.selection import Selection, SelectionError, select, stratified_sample
from bsa.stats import DatasetStats, dataset_stats
from bsa.store import RunStore
from bsa.taxonomy import CATEGORIES, PRIMARY_CATEGORIES, SUB_CATEGORIES, Scenario
from bsa.types import Completion, Decoding, Message, Request, Usage

__version__ = "0.1.0"

__all__ = [
    "CATEGORIES",
    "DEFAULT_ALPHA",
    "PRIMARY_CATEGORIES",
    "SUB_CATEGORIES",
    "BsaError",
    "Completion",
    "Dataset",
    "DatasetError",
    "DatasetSource",
    "DatasetStats",
    "Decoding",
    "Execution",
    "GenerationSettings",
    "IntegrityError",
    "Item",
    "JudgeTemplate",
    "JudgeTemplates",
    "Message",
    "MissingExtraError",
    "PanelScores",
    "ProviderOptions",
    "Request",
    "RetryPolicy",
    "Risk",
    "RunAborted",
    "RunStore",
    "SafetyRules",
    "SampleScore",
    "Scenario",
    "Scores",
    "Selection",
    "SelectionError",
    "SourceError",
    "TemplateError",
    "Usage",
    "__version__",
    "compute_scores",
    "create_provider",
    "dataset_stats",
    "export_items",
    "generate",
    "judge_run",
    "load_dataset",
    "load_judge_templates",
    "load_safety_rules",
    "prompts_from_items",
    "read_judged_csv",
    "read_verdicts",
    "reference_scores",
    "score_panel",
    "score_run",
    "select",
    "stratified_sample",
    "write_report",
]
