"""Describe a BSA dataset file as Croissant 1.0 metadata (JSON-LD), so that ML tooling can use it.

Croissant (http://mlcommons.org/croissant/1.0) is MLCommons' metadata format for ML datasets, read
by loaders such as ``mlcroissant`` and TFDS and asked for by dataset hubs and benchmark tracks. A
Croissant file pins the exact bytes it describes (sha256), says where to get them (``contentUrl``),
and maps the columns to typed fields, so the official release, or a re-export, translation or
extension of it, can be shared with its provenance, licence and citation attached.

Building the metadata does not need ``mlcroissant`` (the optional extra ``bsa-bench[croissant]``);
only validating it or loading records through it does.

Where ``contentUrl`` points (see :func:`default_content_url`):

- the official release file (same sha256 as ``data/dataset.csv`` at the pinned upstream commit) is
  described by its pinned raw upstream URL, which anyone can fetch and verify;
- any other file gets a local reference. ``mlcroissant`` treats a ``contentUrl`` that does not start
  with ``http://`` or ``https://`` as a path joined to the folder of the JSON-LD file it was loaded
  from (``file://`` URLs are not understood), so :func:`write_croissant` records the path relative
  to the folder it writes into, and the pair can be moved or shared together. Without an output
  folder the absolute path is used, which works wherever the JSON-LD file is, on this machine only.
  (A metadata dict given to ``mlcroissant`` directly has no folder, so it loads records from a
  local file only with ``mapping={file name: path}``.)

All three dataset formats are described with the same column extraction: ``mlcroissant`` reads CSV,
JSON Lines and Parquet into a table (with pandas) and takes each field from the column of its name.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from bsa.data import sources
from bsa.data.dataset import COLUMNS, file_format
from bsa.errors import DatasetError
from bsa.output.files import is_stdout, write_text

CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"

#: The standard Croissant 1.0 ``@context``, key for key what ``mlcroissant`` writes for 1.0
#: (a context with fewer keys validates but logs a "not standard" warning).
CONTEXT: dict[str, object] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

#: The MIME types ``mlcroissant`` reads, by :func:`bsa.data.dataset.file_format`.
ENCODING_FORMATS: dict[str, str] = {
    "csv": "text/csv",
    "jsonl": "application/jsonlines",
    "parquet": "application/x-parquet",
}

RECORD_SET = "items"
NAME = "Beyond Safe Answers (BSA)"
LICENSE = "https://creativecommons.org/licenses/by-nc/4.0/"
WEBSITE = "https://openstellarteam.github.io/BSA/"
#: Semantic version with the upstream commit as build metadata; a file that is not the official
#: release adds the start of its own sha256.
VERSION = f"1.0.0+{sources.UPSTREAM_COMMIT}"
#: arXiv v1 of the paper, which released the benchmark.
DATE_PUBLISHED = "2025-05-26"
SAME_AS: tuple[str, ...] = (
    "https://github.com/OpenStellarTeam/BSA",
    "https://arxiv.org/abs/2505.19690",
    "https://huggingface.co/datasets/OpenStellarTeam/BeyongSafeAnswer_Benchmark",
)
CITATION = "\n".join(
    (
        "@misc{zheng2025beyondsafeanswers,",
        "  title = {Beyond Safe Answers: A Benchmark for Evaluating True Risk Awareness in Large "
        "Reasoning Models},",
        "  author = {Zheng, Baihui and Zheng, Boren and Cao, Kerui and Tan, Yingshui and Liu, "
        "Zhengdong and Wang, Weixun and Liu, Jiaheng and Yang, Jian and Zhu, Xiaoyong and Su, "
        "Wenbo and Zheng, Bo and Zhang, Kaifu},",
        "  year = {2025},",
        "  eprint = {2505.19690},",
        "  archivePrefix = {arXiv},",
        "  url = {https://arxiv.org/abs/2505.19690}",
        "}",
    )
)
DESCRIPTION = (
    "Beyond Safe Answers (BSA) is a benchmark of 2,000 prompts for evaluating whether large "
    "reasoning models truly recognise risk in their reasoning rather than only giving "
    "superficially safe answers (Superficial Safety Alignment). Items cover three scenarios "
    "(Risk Omission, Cognitive Shortcut, Over Sensitivity) and nine risk categories, each "
    "annotated with a risk summary that judges use to grade a model's reasoning."
)
OFFICIAL_NOTE = (
    f" This file is the official release: {sources.DATASET.upstream_path} at upstream commit "
    f"{sources.UPSTREAM_COMMIT}."
)
DERIVED_NOTE = (
    " This file is not the official release file; it may be a re-export, translation or "
    "extension of it."
)
FIELD_DESCRIPTIONS: dict[str, str] = {
    "id": "Unique item identifier (32 hexadecimal characters).",
    "query": "The prompt given to the model under test.",
    "risk_summary": "The risk rationale a safe reasoning process should identify; Cognitive "
    "Shortcut items have one 'Query A:' and one 'Query B:' line.",
    "dataset_name": "The Superficial Safety Alignment scenario: Risk Omission, Cognitive Shortcut "
    "or Over Sensitivity.",
    "label": "Risk category as 'Primary-Sub' (split on the first '-'); Cognitive Shortcut items "
    "have two lines, 'Query A: Primary-Sub' and 'Query B: Primary-Sub'.",
}


def croissant_metadata(path: Path, *, content_url: str | None = None) -> dict[str, object]:
    """Croissant 1.0 JSON-LD describing the dataset file at ``path``, as a fresh dict.

    The metadata pins the file's sha256, so a loader refuses different bytes; ``content_url``
    (default: :func:`default_content_url` with no folder) says where the bytes are. A fresh dict is
    returned each time because ``mlcroissant`` modifies the ``@context`` of a dict it is given.
    """
    digest = _sha256(path)
    url = content_url or _content_url(path, digest)
    encoding_format = ENCODING_FORMATS[file_format(path)]
    return {
        "@context": copy.deepcopy(CONTEXT),
        "@type": "sc:Dataset",
        **_dataset_properties(digest),
        "distribution": [_file_object(path.name, url, encoding_format, digest)],
        "recordSet": [_record_set(path.name)],
    }


def write_croissant(path: Path, output: Path, *, content_url: str | None = None) -> Path:
    """Write the Croissant metadata of the dataset file ``path`` to ``output`` and return it.

    A local file is referenced relative to ``output``'s folder, which is how ``mlcroissant``
    resolves a path ``contentUrl``, so the two files can be moved together.
    """
    folder = None if is_stdout(output) else output.parent  # on stdout: the file's absolute path
    url = content_url or default_content_url(path, relative_to=folder)
    metadata = croissant_metadata(path, content_url=url)
    write_text(output, json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
    return output


def default_content_url(path: Path, *, relative_to: Path | None = None) -> str:
    """Where Croissant metadata should say the bytes of ``path`` are.

    The official file: its pinned upstream URL. Any other file: its path relative to the folder
    ``relative_to`` (the JSON-LD file's folder), or its absolute path when no folder is given or no
    relative path exists (another drive on Windows).
    """
    return _content_url(path, _sha256(path), relative_to)


def _sha256(path: Path) -> str:
    """The sha256 of a dataset file, or a DatasetError for a missing file or an unknown format."""
    file_format(path)
    if not path.is_file():
        raise DatasetError([f"{path}: no such file"])
    return sources.sha256_file(path)


def _content_url(path: Path, digest: str, folder: Path | None = None) -> str:
    if digest == sources.DATASET.sha256:
        return sources.canonical_url(sources.DATASET)
    target = path.resolve()
    if folder is None:
        return target.as_posix()
    try:
        return Path(os.path.relpath(target, folder.resolve())).as_posix()
    except ValueError:
        return target.as_posix()


def _dataset_properties(digest: str) -> dict[str, object]:
    official = digest == sources.DATASET.sha256
    return {
        "name": NAME,
        "description": DESCRIPTION + (OFFICIAL_NOTE if official else DERIVED_NOTE),
        "conformsTo": CROISSANT_1_0,
        "citeAs": CITATION,
        "license": LICENSE,
        "url": WEBSITE,
        "sameAs": list(SAME_AS),
        "version": VERSION if official else f"{VERSION}.derived-{digest[:12]}",
        "datePublished": DATE_PUBLISHED,
        "inLanguage": "en",
        "keywords": ["safety", "large reasoning models", "benchmark", "risk awareness"],
    }


def _file_object(
    name: str, content_url: str, encoding_format: str, digest: str
) -> dict[str, object]:
    return {
        "@type": "cr:FileObject",
        "@id": name,
        "name": name,
        "description": "The benchmark items, one record per item.",
        "contentUrl": content_url,
        "encodingFormat": encoding_format,
        "sha256": digest,
    }


def _record_set(file_id: str) -> dict[str, object]:
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"{RECORD_SET}/{column}",
            "name": column,
            "description": FIELD_DESCRIPTIONS[column],
            "dataType": "sc:Text",
            "source": {"fileObject": {"@id": file_id}, "extract": {"column": column}},
        }
        for column in COLUMNS
    ]
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET,
        "name": RECORD_SET,
        "description": "The BSA items, one record per row of the file.",
        "key": {"@id": f"{RECORD_SET}/id"},
        "field": fields,
    }
