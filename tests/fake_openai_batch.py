"""A loopback server that speaks OpenAI's Batch API as the official SDK calls it.

``POST /v1/files`` (multipart, purpose ``batch``) stores a JSONL input file; ``POST /v1/batches``
creates a batch of it (``endpoint`` ``/v1/chat/completions``, ``completion_window`` ``24h``, as the
real API requires); ``GET /v1/batches/{id}`` polls it: ``validating``, then ``in_progress`` until
it runs (:class:`tests.fake_batches.BatchBook` says when, and how many requests run before it
ends ``expired`` rather than ``completed``); ``GET /v1/files/{id}/content`` downloads a file. ``GET /v1/batches`` lists the batches newest
first, a page of ``limit`` at a time after the id ``after``, each with the ``metadata`` it was
created with; ``POST /v1/batches/{id}/cancel`` cancels one (its next poll says ``cancelled``,
its requests never run); ``DELETE /v1/files/{id}`` deletes a file.

Each request of a batch is answered as the scripted fakes answer a live call (a script per
prompt, else the default: the mock judge's verdict to a judge prompt, a reasoning and an answer
to anything else): a 200 reply becomes a line of the output file, ``{"custom_id", "response":
{"status_code", "body"}}``; an error reply a line of the error file with the same shape; a request
the batch never ran an error-file line ``{"custom_id", "response": null, "error": {"code":
"batch_expired"}}``. Every request the batch ran is in :attr:`requests` (so ``calls()`` counts
them per prompt), every created batch's input lines in ``book.created``.
"""

from __future__ import annotations

import hashlib
import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fake_batches import BatchBook
from .scripted_fake import Received, Reply, ScriptedFake, default_texts, last_user_turn

TEST_KEY = "sk-test-batch-key"
ENDPOINT = "/v1/chat/completions"


def chat_completion(answer: str, reasoning: str | None = None, model: str = "gpt-test") -> Reply:
    """A chat completion with one choice (reasoning in ``reasoning_content`` when given)."""
    message: dict[str, Any] = {"role": "assistant", "content": answer}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    body = {
        "id": "chatcmpl-"
        + hashlib.sha256(answer.encode("utf-8", "surrogatepass")).hexdigest()[:16],
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60},
    }
    return Reply(200, body)


def api_error(status: int, message: str, code: str | None = None) -> Reply:
    """An error as OpenAI sends it."""
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error",
                                    "param": None, "code": code}})  # fmt: skip


def default_reply(body: dict[str, Any]) -> Reply:
    reasoning, answer = default_texts(last_user_turn(body.get("messages")))
    return chat_completion(answer, reasoning, str(body.get("model")))


class FakeOpenAIBatch(ScriptedFake[Received]):
    """The server's state: its files and batches, its replies, every request its batches ran."""

    test_key = TEST_KEY
    record = Received
    default_reply = staticmethod(default_reply)

    @staticmethod
    def prompt_of(body: dict[str, Any]) -> str:
        return last_user_turn(body.get("messages"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.book = BatchBook()
        #: Polls still to answer with a 500 (a vendor's passing trouble).
        self.failing_polls = 0
        #: Why every batch fails whole when it runs (OpenAI's ``failed`` status), or None.
        self.refusal: str | None = None
        #: Seconds the answer to a create call is held back (a kill can then come after the
        #: batch is made and before bsa hears its id).
        self.create_delay = 0.0
        #: Files deleted, in order; every delete fails with a 500 while ``failing_deletes``.
        self.deleted: list[str] = []
        self.failing_deletes = False
        #: Batches asked to cancel, and pages of the batch list served.
        self.cancelled: list[str] = []
        self.list_pages = 0

    def check(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Reply | None:
        """A batch request is checked when the batch runs: the key was checked at upload."""
        return None

    def unreadable(self) -> Reply:
        return api_error(400, "We could not parse the JSON body of your request.")

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        refusal = self._refuse_key(headers)
        if refusal is not None:
            return refusal
        if path == "/v1/files":
            return self._upload(headers.get("content-type", ""), raw)
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "batches"] and parts[3:] == ["cancel"]:
            if parts[2] not in self.batches:
                return api_error(404, f"No batch found with id '{parts[2]}'.")
            return self._cancel(parts[2])
        try:
            body = json.loads(raw)
        except ValueError:
            return self.unreadable()
        if path == "/v1/batches" and isinstance(body, dict):
            return self._create(body)
        return api_error(404, f"Invalid URL (POST {path})")

    def answer_get(self, path: str, headers: dict[str, str]) -> Reply:
        refusal = self._refuse_key(headers)
        if refusal is not None:
            return refusal
        url = urlsplit(path)
        if url.path == "/v1/batches":
            return Reply(200, self._list(parse_qs(url.query)))
        parts = path.strip("/").split("/")
        if parts[:2] == ["v1", "batches"] and len(parts) == 3 and parts[2] in self.batches:
            if self.failing_polls:
                self.failing_polls -= 1
                return api_error(500, "The server had an error while processing your request.")
            return Reply(200, self._poll(parts[2]))
        if parts[:2] == ["v1", "files"] and parts[3:] == ["content"] and parts[2] in self.files:
            return Reply(200, self.files[parts[2]], {"Content-Type": "application/octet-stream"})
        return api_error(404, f"No such object: {path}")

    def answer_delete(self, path: str, headers: dict[str, str]) -> Reply:
        refusal = self._refuse_key(headers)
        if refusal is not None:
            return refusal
        file_id = path.removeprefix("/v1/files/")
        if file_id not in self.files:
            return api_error(404, f"No such File object: {file_id}")
        if self.failing_deletes:
            return api_error(500, "The server had an error while processing your request.")
        del self.files[file_id]
        self.deleted.append(file_id)
        return Reply(200, {"id": file_id, "object": "file", "deleted": True})

    def add_foreign_batches(self, count: int, *, age_s: float = 0.0) -> None:
        """Batches of someone else on the same account (no bsa metadata), made ``age_s`` ago."""
        for _ in range(count):
            batch_id = f"batch_other_{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": ENDPOINT,
                "input_file_id": "file-other", "completion_window": "24h",
                "status": "completed", "created_at": int(time.time() - age_s), "metadata": None,
            }  # fmt: skip

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """A page of the batches, newest first, as ``GET /v1/batches`` pages them."""
        self.list_pages += 1
        newest = list(self.batches.values())[::-1]
        ids = [batch["id"] for batch in newest]
        after = query.get("after", [None])[0]
        start = ids.index(after) + 1 if after in ids else 0
        limit = int(query.get("limit", ["20"])[0])
        page = newest[start : start + limit]
        return {"object": "list", "data": page, "has_more": start + limit < len(newest),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}  # fmt: skip

    def _cancel(self, batch_id: str) -> Reply:
        self.cancelled.append(batch_id)
        batch = self.batches[batch_id]
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelling"
        return Reply(200, batch)

    def _refuse_key(self, headers: dict[str, str]) -> Reply | None:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return api_error(401, "Incorrect API key provided.", "invalid_api_key")
        return None

    def _upload(self, content_type: str, raw: bytes) -> Reply:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        form = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields = {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in form.iter_parts()  # type: ignore[attr-defined]
        }
        if fields.get("purpose") != b"batch" or not fields.get("file"):
            return api_error(400, "a batch input file needs purpose 'batch' and a file")
        file_id = self._store_file(fields["file"])
        return Reply(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]),
                           "created_at": int(time.time()), "filename": "input.jsonl",
                           "purpose": "batch", "status": "processed"})  # fmt: skip

    def _store_file(self, content: bytes) -> str:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return file_id

    def _create(self, body: dict[str, Any]) -> Reply:
        if body.get("endpoint") != ENDPOINT or body.get("completion_window") != "24h":
            return api_error(400, "endpoint must be /v1/chat/completions and window 24h")
        content = self.files.get(str(body.get("input_file_id")))
        if content is None:
            return api_error(400, "no such input file")
        lines = [json.loads(line) for line in content.splitlines() if line.strip()]
        if len({line["custom_id"] for line in lines}) != len(lines):
            return api_error(400, "custom_id values must be unique within a batch")
        metadata = body.get("metadata")
        if metadata is not None and not _valid_metadata(metadata):
            return api_error(400, "metadata: at most 16 string keys (64) and values (512)")
        batch_id = self.book.add("batch_", lines)
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": ENDPOINT,
            "input_file_id": body["input_file_id"], "completion_window": "24h",
            "status": "validating", "created_at": int(time.time()),
            "output_file_id": None, "error_file_id": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": metadata,
        }  # fmt: skip
        return Reply(200, self.batches[batch_id], delay=self.create_delay)

    def _poll(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        if batch["status"] == "cancelling":
            self._run(batch)
        if batch["status"] not in ("validating", "in_progress"):
            return batch
        if not self.book.due(batch_id):
            batch["status"] = "in_progress"
        elif self.refusal is not None:
            failure = {"code": "model_not_found", "message": self.refusal}
            batch |= {"status": "failed", "errors": {"object": "list", "data": [failure]}}
        else:
            self._run(batch)
        return batch

    def _run(self, batch: dict[str, Any]) -> None:
        """Answer the batch's requests (up to its expiry) into its output and error files."""
        lines, runs = self.book.requests(batch["id"]), self.book.runs(batch["id"])
        cancelled = batch["status"] == "cancelling"
        runs = 0 if cancelled else runs
        output, errors = [], []
        for index, line in enumerate(lines):
            if index >= runs:
                errors.append(_not_run(line["custom_id"], cancelled))
                continue
            reply = self.received(ENDPOINT, {}, line["body"]) or self.next_reply(line["body"])
            row = _answered(line["custom_id"], reply)
            (output if reply.status == 200 else errors).append(row)
        ended = "expired" if runs < len(lines) else "completed"
        batch["status"] = "cancelled" if cancelled else ended
        counts = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        batch["request_counts"] = counts
        if output:
            batch["output_file_id"] = self._store_file(_jsonl(output))
        if errors:
            batch["error_file_id"] = self._store_file(_jsonl(errors))


def _answered(custom_id: str, reply: Reply) -> dict[str, Any]:
    body = reply.body if isinstance(reply.body, dict) else reply.body.decode()
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "error": None,
            "response": {"status_code": reply.status, "request_id": "req_x", "body": body}}  # fmt: skip


def _not_run(custom_id: str, cancelled: bool = False) -> dict[str, Any]:
    message = "This request could not be executed before the completion window expired."
    code = "batch_cancelled" if cancelled else "batch_expired"
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": None,
            "error": {"code": code, "message": message}}  # fmt: skip


def _valid_metadata(metadata: object) -> bool:
    """OpenAI's rule for ``metadata``: up to 16 pairs, string keys of 64 characters at most and
    string values of 512."""
    if not isinstance(metadata, dict) or len(metadata) > 16:
        return False
    return all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
        for k, v in metadata.items()
    )


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
