"""bsa-bench: the Beyond Safe Answers benchmark (arXiv 2505.19690) for large reasoning models.

The public API is re-exported here; the ``bsa`` command is a thin layer over it. Each name is
imported on first use (PEP 562), so ``import bsa`` and a command that only reads a run load
neither the providers nor the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsa.benchmark import (
        BSA_V1,
        CATEGORIES,
        PRIMARY_CATEGORIES,
        SUB_CATEGORIES,
        Benchmark,
        Metric,
        Scenario,
    )
    from bsa.data.assets import (
        JudgeTemplate,
        JudgeTemplates,
        SafetyRules,
        load_judge_templates,
        load_safety_rules,
    )
    from bsa.data.dataset import Dataset, DatasetSource, load_dataset
    from bsa.data.dataset_export import export_items
    from bsa.data.items import Item, Risk
    from bsa.data.selection import Selection, SelectionError, select, stratified_sample
    from bsa.data.stats import DatasetStats, dataset_stats
    from bsa.engine.generate import GenerationSettings, generate, prompts_from_items
    from bsa.engine.runner import Execution, RetryPolicy, RunAborted
    from bsa.errors import (
        BsaError,
        DatasetError,
        IntegrityError,
        MissingExtraError,
        SourceError,
        TemplateError,
    )
    from bsa.interop.inspect_import import ImportReport, import_inspect_logs
    from bsa.judging.judge import judge_run
    from bsa.output.report import write_report
    from bsa.pipeline import GenerationPlan, JudgePlan, RunPlan, RunResult, run
    from bsa.providers import ProviderOptions, create_provider
    from bsa.runfile.store import RunStore
    from bsa.scoring.inputs import read_verdicts, score_run
    from bsa.scoring.metrics import DEFAULT_ALPHA, SampleScore, Scores, compute_scores
    from bsa.scoring.panel_scores import PanelScores, score_panel
    from bsa.scoring.reference import read_judged_csv, reference_scores
    from bsa.scoring.run_scores import ScorePlan
    from bsa.types import Completion, Decoding, Message, Request, Usage

__version__ = "0.1.0"

#: Where each public name is defined.
_EXPORTS: dict[str, str] = {
    "JudgeTemplate": "bsa.data.assets",
    "JudgeTemplates": "bsa.data.assets",
    "SafetyRules": "bsa.data.assets",
    "load_judge_templates": "bsa.data.assets",
    "load_safety_rules": "bsa.data.assets",
    "Dataset": "bsa.data.dataset",
    "DatasetSource": "bsa.data.dataset",
    "load_dataset": "bsa.data.dataset",
    "export_items": "bsa.data.dataset_export",
    "BsaError": "bsa.errors",
    "DatasetError": "bsa.errors",
    "IntegrityError": "bsa.errors",
    "MissingExtraError": "bsa.errors",
    "SourceError": "bsa.errors",
    "TemplateError": "bsa.errors",
    "GenerationSettings": "bsa.engine.generate",
    "generate": "bsa.engine.generate",
    "prompts_from_items": "bsa.engine.generate",
    "ImportReport": "bsa.interop.inspect_import",
    "import_inspect_logs": "bsa.interop.inspect_import",
    "Item": "bsa.data.items",
    "Risk": "bsa.data.items",
    "judge_run": "bsa.judging.judge",
    "DEFAULT_ALPHA": "bsa.scoring.metrics",
    "SampleScore": "bsa.scoring.metrics",
    "Scores": "bsa.scoring.metrics",
    "compute_scores": "bsa.scoring.metrics",
    "PanelScores": "bsa.scoring.panel_scores",
    "score_panel": "bsa.scoring.panel_scores",
    "GenerationPlan": "bsa.pipeline",
    "JudgePlan": "bsa.pipeline",
    "RunPlan": "bsa.pipeline",
    "RunResult": "bsa.pipeline",
    "ScorePlan": "bsa.scoring.run_scores",
    "run": "bsa.pipeline",
    "ProviderOptions": "bsa.providers",
    "create_provider": "bsa.providers",
    "read_judged_csv": "bsa.scoring.reference",
    "reference_scores": "bsa.scoring.reference",
    "write_report": "bsa.output.report",
    "Execution": "bsa.engine.runner",
    "RetryPolicy": "bsa.engine.runner",
    "RunAborted": "bsa.engine.runner",
    "read_verdicts": "bsa.scoring.inputs",
    "score_run": "bsa.scoring.inputs",
    "Selection": "bsa.data.selection",
    "SelectionError": "bsa.data.selection",
    "select": "bsa.data.selection",
    "stratified_sample": "bsa.data.selection",
    "DatasetStats": "bsa.data.stats",
    "dataset_stats": "bsa.data.stats",
    "RunStore": "bsa.runfile.store",
    "BSA_V1": "bsa.benchmark",
    "Benchmark": "bsa.benchmark",
    "Metric": "bsa.benchmark",
    "CATEGORIES": "bsa.benchmark",
    "PRIMARY_CATEGORIES": "bsa.benchmark",
    "SUB_CATEGORIES": "bsa.benchmark",
    "Scenario": "bsa.benchmark",
    "Completion": "bsa.types",
    "Decoding": "bsa.types",
    "Message": "bsa.types",
    "Request": "bsa.types",
    "Usage": "bsa.types",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bsa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "BSA_V1",
    "CATEGORIES",
    "DEFAULT_ALPHA",
    "PRIMARY_CATEGORIES",
    "SUB_CATEGORIES",
    "Benchmark",
    "BsaError",
    "Completion",
    "Dataset",
    "DatasetError",
    "DatasetSource",
    "DatasetStats",
    "Decoding",
    "Execution",
    "GenerationPlan",
    "GenerationSettings",
    "ImportReport",
    "IntegrityError",
    "Item",
    "JudgePlan",
    "JudgeTemplate",
    "JudgeTemplates",
    "Message",
    "Metric",
    "MissingExtraError",
    "PanelScores",
    "ProviderOptions",
    "Request",
    "RetryPolicy",
    "Risk",
    "RunAborted",
    "RunPlan",
    "RunResult",
    "RunStore",
    "SafetyRules",
    "SampleScore",
    "Scenario",
    "ScorePlan",
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
    "import_inspect_logs",
    "judge_run",
    "load_dataset",
    "load_judge_templates",
    "load_safety_rules",
    "prompts_from_items",
    "read_judged_csv",
    "read_verdicts",
    "reference_scores",
    "run",
    "score_panel",
    "score_run",
    "select",
    "stratified_sample",
    "write_report",
]
