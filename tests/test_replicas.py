"""Several replicas of one model (``--base-url`` repeated): spread, least outstanding, health,
a replica stopped mid-run, per-replica 429s, the record in the run file and ``bsa status``.

Over real HTTP to in-process test servers; the health rules alone with a clock the test moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bsa.engine.generate import Execution, GenerationReport, GenerationSettings, generate
from bsa.engine.runner import RetryPolicy
from bsa.providers import Limits, ProviderOptions, create_provider, endpoints
from bsa.providers.openai_compat import OpenAICompatible
from bsa.providers.replica_health import HealthPolicy, ReplicaHealth
from bsa.providers.replicas import ReplicaSet, public_url
from bsa.runfile.store import Prompt, RunStore
from bsa.testing.openai_server import OpenAIServer, ServerConfig, mock_judge_hook
from bsa.types import Decoding
from tests.bsa_command import bsa_in_process as bsa
from tests.conftest import FAST_RETRIES
from tests.fake_hub import closed_port_url

MODEL = "openai:test-model"


@contextlib.contextmanager
def servers(*configs: ServerConfig) -> Iterator[list[OpenAIServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(OpenAIServer(config)) for config in configs]


def quick(latency: float = 0.0, **more: Any) -> ServerConfig:
    return ServerConfig(latency=latency, reasoning_chars=60, answer_chars=20, **more)


def prompts(count: int) -> list[Prompt]:
    return [Prompt(f"q{n:03d}", f"Question number {n}") for n in range(count)]


def generate_over(
    urls: list[str],
    run: Path,
    count: int,
    *,
    concurrency: int = 4,
    policy: RetryPolicy = FAST_RETRIES,
) -> GenerationReport:
    options = ProviderOptions(**endpoints(urls))
    provider = create_provider(MODEL, options, limits=Limits(timeout_s=policy.timeout_s))
    execution = Execution(k=1, concurrency=concurrency, policy=policy)
    settings = GenerationSettings(MODEL, Decoding())
    return asyncio.run(generate(run, prompts(count), provider, settings, execution))


def answered_by(run: Path) -> Counter[str | None]:
    with RunStore(run) as store:
        return Counter(g.replica for g in store.generations())


def completed(server: OpenAIServer) -> int:
    return server.stats.outcomes.get("completed", 0)


# --- health rules, without a server ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def health(**policy: Any) -> tuple[ReplicaHealth, Clock]:
    clock = Clock()
    return ReplicaHealth(HealthPolicy(**policy), clock), clock


def test_a_storm_of_failures_takes_a_replica_out_one_failure_does_not() -> None:
    replica, clock = health(storm=3, cooldown_s=1.0)
    replica.failed(unreachable=False)
    replica.failed(unreachable=False)
    assert replica.available(0), "two failures in a row are not yet a storm"
    replica.answered()
    replica.failed(unreachable=False)
    replica.failed(unreachable=False)
    assert replica.available(0), "an answer between ends the streak"
    replica.failed(unreachable=False)
    assert not replica.available(0)
    clock.now += 1.0
    assert replica.available(0), "back after the cooldown"


def test_a_refused_connection_takes_a_replica_out_at_once_and_cooldowns_double_to_a_cap() -> None:
    replica, clock = health(cooldown_s=1.0, max_cooldown_s=3.0)
    cooldowns = []
    for _ in range(4):
        replica.failed(unreachable=True)
        start = clock.now
        while not replica.available(0):
            clock.now += 0.25
        cooldowns.append(clock.now - start)
    assert cooldowns == [1.0, 2.0, 3.0, 3.0]


def test_after_a_cooldown_one_probe_at_a_time_until_it_answers() -> None:
    replica, clock = health(cooldown_s=1.0)
    replica.failed(unreachable=True)
    clock.now += 1.0
    assert replica.available(0) and not replica.available(1), "on probation: one call at a time"
    replica.failed(unreachable=False)
    assert not replica.available(0), "a failed probe takes it out again, without a storm"
    clock.now += 2.0
    replica.answered()
    assert replica.available(5), "an answer ends the probation"


def test_a_429_keeps_the_replica_out_for_its_retry_after() -> None:
    replica, clock = health(cooldown_s=1.0)
    replica.rate_limited(7.0)
    replica.answered()  # a call sent before the 429 comes back
    clock.now += 6.9
    assert not replica.available(0)
    clock.now += 0.1
    assert replica.available(0)


def test_the_stored_url_has_no_credentials_query_or_fragment() -> None:
    assert (
        public_url("https://user:pw@gpu3.lan:8000/v1?api_key=abc#x") == "https://gpu3.lan:8000/v1"
    )
    masked = public_url("https://gw.example/sk-proj-0123456789abcdefghijklmnop/v1")
    assert "0123456789abcdefghij" not in masked and masked.endswith("/v1")


# --- routing over real HTTP --------------------------------------------------------------------


def test_calls_are_spread_over_every_replica(tmp_path: Path) -> None:
    with servers(quick(0.02), quick(0.02)) as (first, second):
        report = generate_over([first.base_url, second.base_url], tmp_path / "r.sqlite", 30)
    assert report.status["ok"] == 30
    assert completed(first) >= 5 and completed(second) >= 5, (completed(first), completed(second))
    assert answered_by(tmp_path / "r.sqlite") == {
        first.base_url: completed(first),
        second.base_url: completed(second),
    }


def test_a_slow_replica_gets_fewer_calls(tmp_path: Path) -> None:
    with servers(quick(0.5), quick(0.01)) as (slow, fast):
        report = generate_over([slow.base_url, fast.base_url], tmp_path / "r.sqlite", 40)
    assert report.status["ok"] == 40
    assert completed(slow) * 4 < completed(fast), (completed(slow), completed(fast))


def test_a_storm_of_5xx_moves_the_calls_to_the_other_replica_and_loses_none(
    tmp_path: Path,
) -> None:
    """Every call to the first server fails with a 500: with two attempts a sample, each failed
    call's retry must go to the healthy replica, and the failing one must be taken out."""
    policy = replace(FAST_RETRIES, max_attempts=2)
    with servers(quick(fault_rates={"500": 1.0}), quick(0.01)) as (failing, healthy):
        run = tmp_path / "r.sqlite"
        report = generate_over([failing.base_url, healthy.base_url], run, 40, policy=policy)
    assert report.status == {"ok": 40, "blocked": 0, "failed": 0}
    assert answered_by(run) == {healthy.base_url: 40}
    assert failing.stats.total <= 6, "out after three in a row (plus the calls already sent)"


def test_a_replica_that_hangs_is_timed_out_then_avoided(tmp_path: Path) -> None:
    """Every call to the first server hangs: each is cut by the timeout and retried on the other
    replica, and three cut calls in a row take the hanging one out."""
    policy = replace(FAST_RETRIES, max_attempts=2, timeout_s=0.3)
    with servers(quick(fault_rates={"hang": 1.0}), quick(0.01)) as (hanging, healthy):
        run = tmp_path / "r.sqlite"
        report = generate_over([hanging.base_url, healthy.base_url], run, 30, policy=policy)
    assert report.status == {"ok": 30, "blocked": 0, "failed": 0}
    assert answered_by(run) == {healthy.base_url: 30}
    assert hanging.stats.total <= 6, hanging.stats.total


def test_a_replica_stopped_mid_run_loses_no_sample(tmp_path: Path) -> None:
    run = tmp_path / "r.sqlite"
    with servers(quick(0.05), quick(0.05)) as (staying, stopping):
        watcher = threading.Thread(target=stop_after, args=(stopping, 8), daemon=True)
        watcher.start()
        report = generate_over([staying.base_url, stopping.base_url], run, 60, concurrency=6)
        watcher.join(timeout=30)
    assert report.status == {"ok": 60, "blocked": 0, "failed": 0}
    with sqlite3.connect(run) as connection:
        rows = connection.execute("SELECT item_id, sample FROM generations").fetchall()
    assert sorted(rows) == [(f"q{n:03d}", 0) for n in range(60)], "each sample stored once"
    counts = answered_by(run)
    assert counts[stopping.base_url] >= 1 and counts[staying.base_url] >= 30, counts


def stop_after(server: OpenAIServer, calls: int) -> None:
    deadline = time.monotonic() + 30
    while server.stats.total < calls and time.monotonic() < deadline:
        time.sleep(0.005)
    server.stop()


def test_a_429_backs_off_that_replica_only(tmp_path: Path) -> None:
    """The first server allows one request per 10 s and says so in Retry-After: after its first
    429 it must get no more calls for the run (all under a second), and no sample may wait."""
    limited = quick(0.01, rate_limit=0.1, rate_burst=1)
    with servers(limited, quick(0.01)) as (capped, free):
        run = tmp_path / "r.sqlite"
        report = generate_over([capped.base_url, free.base_url], run, 30)
    assert report.status["ok"] == 30
    assert capped.stats.outcomes.get("rate_capped", 0) <= 2, capped.stats.outcomes
    assert report.counters.retries <= 2


def test_one_url_is_the_plain_provider_and_records_no_replica(tmp_path: Path) -> None:
    with servers(quick()) as (server,):
        options = ProviderOptions(**endpoints([server.base_url]))
        assert isinstance(create_provider(MODEL, options), OpenAICompatible)
        generate_over([server.base_url], tmp_path / "r.sqlite", 3)
        status = bsa("status", "--run", tmp_path / "r.sqlite")
    assert answered_by(tmp_path / "r.sqlite") == {None: 3}
    assert "replicas" not in status.stdout


def test_a_replica_url_with_a_key_is_stored_without_it(tmp_path: Path) -> None:
    """A gateway may carry its key in the URL's query (``?key=``): the run file keeps the URL
    without it."""
    secret = "gw-4f1c0b9e7d2a4e55a1c3"
    run = tmp_path / "r.sqlite"
    with servers(quick(), quick()) as pair:
        providers = [
            OpenAICompatible("test-model", connection_to(server.base_url)) for server in pair
        ]
        keyed = [f"{server.base_url}?key={secret}" for server in pair]
        provider = ReplicaSet(providers, keyed)
        execution = Execution(k=1, concurrency=2, policy=FAST_RETRIES)
        settings = GenerationSettings(MODEL, Decoding())
        asyncio.run(generate(run, prompts(6), provider, settings, execution))
    assert set(answered_by(run)) == {server.base_url for server in pair}
    assert secret.encode() not in run.read_bytes()


def connection_to(url: str) -> Any:
    from bsa.providers.connection import Connection

    return Connection("EMPTY", "OPENAI_API_KEY", url)


# --- the command line ---------------------------------------------------------------------------


def test_repeated_base_urls_for_model_and_judge_are_recorded_and_counted(tmp_path: Path) -> None:
    run = tmp_path / "r.sqlite"
    judge = quick(respond=mock_judge_hook)
    with servers(quick(0.01), quick(0.01), judge, judge) as (a, b, c, d):
        result = bsa(
            "run", "--run", run, "--sample", "12", "-k", "1", "--model", MODEL,
            "--base-url", a.base_url, "--base-url", b.base_url,
            "--judge", "openai:judge", "--judge-base-url", c.base_url,
            "--judge-base-url", d.base_url, "--concurrency", "4", "--judge-concurrency", "4",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert completed(a) and completed(b) and completed(c) and completed(d)
        status = bsa("status", "--run", run)
        as_json = json.loads(bsa("status", "--run", run, "--json").stdout)
    model = as_json["replicas"]["model"]
    assert model == {a.base_url: completed(a), b.base_url: completed(b)}
    assert set(as_json["replicas"]["judges"]["openai:judge"]) == {c.base_url, d.base_url}
    lines = status.stdout.splitlines()
    model_line = next(line for line in lines if line.startswith("model replicas: "))
    assert f"{a.base_url} {completed(a)}" in model_line and b.base_url in model_line
    judge_line = next(line for line in lines if line.startswith("judge openai:judge replicas: "))
    assert c.base_url in judge_line and d.base_url in judge_line


def test_every_replica_unreachable_ends_as_one_unreachable_endpoint_does(tmp_path: Path) -> None:
    def error_of(*urls: str) -> str:
        flags = [arg for url in urls for arg in ("--base-url", url)]
        result = bsa(
            "generate", "--run", tmp_path / f"{len(urls)}.sqlite", "--model", MODEL,
            "--sample", "6", "-k", "1", "--max-attempts", "2", *flags,
        )  # fmt: skip
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        return result.stderr.strip()

    one = error_of(closed_port_url() + "/v1")
    several = error_of(closed_port_url() + "/v1", closed_port_url() + "/v1")
    expected = "failed the same way and no call has worked yet; check the setup: cannot connect"
    assert expected in one and expected in several, (one, several)
    assert [line for line in several.splitlines() if line.startswith("error:")] == [
        several.splitlines()[-1]
    ], "one error line"


def test_a_replica_given_twice_or_for_a_provider_without_url_is_one_line(tmp_path: Path) -> None:
    twice = bsa(
        "generate", "--run", tmp_path / "r.sqlite", "--model", MODEL, "--sample", "2",
        "--base-url", "http://127.0.0.1:9/v1", "--base-url", "http://127.0.0.1:9/v1",
    )  # fmt: skip
    assert twice.returncode == 1 and "is given twice" in twice.stderr, twice.stderr
    mock = bsa(
        "generate", "--run", tmp_path / "m.sqlite", "--model", "mock", "--sample", "2",
        "--base-url", "http://127.0.0.1:9/v1", "--base-url", "http://127.0.0.1:8/v1",
    )  # fmt: skip
    assert mock.returncode == 1 and "takes no URL" in mock.stderr, mock.stderr


@pytest.mark.parametrize("judges", [1, 2])
def test_judge_urls_one_judge_takes_replicas_a_panel_one_each(judges: int) -> None:
    from bsa.cli.judge import _judge_urls

    urls = ("http://a/v1", "http://b/v1")
    expected = [urls] if judges == 1 else [(urls[0],), (urls[1],)]
    assert _judge_urls(urls, judges) == expected
