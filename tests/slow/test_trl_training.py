"""The `dpo` export trains TRL's DPOTrainer and RewardTrainer, and the `kto` export its
KTOTrainer, as they come (README "Exports"): a project is built over HTTP from HH-RLHF pairs
(shared/data), a simulated crowd votes (or gives verdicts), the Parquet export is pulled
over HTTP and loaded with `datasets`, and each trainer runs a few steps on a tiny GPT-2 built
from a config, with a tokenizer trained here on the export's own texts (nothing is
downloaded).

Slow and optional: needs the `train` extra (`pip install -e ".[train]"`, torch's CPU wheel is
enough) and `--run-slow` (or RUN_SLOW=1). `-s` prints the losses and timings.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


HH_RLHF = Path(
    os.environ.get(
        "HH_RLHF_PATH",
        Path(__file__).resolve().parents[3] / "shared/data/hh-rlhf-harmless-base-test-500.jsonl",
    )
)
N_ITEMS = 200
VOTERS = 3
FOLLOWS_ORIGINAL = 0.8  # how often a simulated annotator agrees with HH-RLHF's chosen answer
STEPS = 6
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="module")
def trl():
    """TRL and what it trains with (imported only when the test runs: torch takes seconds)."""
    for name in ("torch", "transformers", "tokenizers", "datasets"):
        pytest.importorskip(name)
    return pytest.importorskip("trl")


@pytest.fixture
def http(live_server, researcher):
    """An httpx client on the live server, signed in with the researcher's API token."""
    httpx = pytest.importorskip("httpx")
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=researcher)
    with httpx.Client(
        base_url=f"{live_server.url}/api/v1",
        headers={"Authorization": f"Token {token.key}"},
        timeout=120,
    ) as client:
        yield client


def ndjson(rows: list[dict]) -> dict:
    return {
        "content": "\n".join(json.dumps(row) for row in rows).encode(),
        "headers": {"Content-Type": "application/x-ndjson"},
    }


@pytest.fixture
def dpo_parquet(http, tmp_path) -> Path:
    """The `dpo` Parquet export of a project of HH-RLHF pairs with simulated votes."""
    if not HH_RLHF.exists():
        pytest.skip(f"no HH-RLHF sample at {HH_RLHF} (set HH_RLHF_PATH)")
    pairs = [json.loads(line) for line in HH_RLHF.read_text().splitlines()[:N_ITEMS]]
    project = {"slug": "hh", "name": "HH-RLHF harmless", "kind": "pairwise", "allow_tie": True}
    assert http.post("/projects/", json=project).status_code == 201
    assert http.post("/projects/hh/items/", **ndjson(pairs)).status_code in (200, 201)

    items = http.get("/projects/hh/export/", params={"format": "items"})
    item_ids = [json.loads(line)["id"] for line in items.text.splitlines()]
    rng = np.random.default_rng(14)
    votes = [
        {
            "annotator": f"crowd-{voter}",
            "item": item_id,
            "a": "chosen",
            "b": "rejected",
            "choice": "a" if rng.random() < FOLLOWS_ORIGINAL else "b",
            "seconds": float(rng.integers(5, 60)),
        }
        for item_id in item_ids
        for voter in range(VOTERS)
    ]
    assert http.post("/projects/hh/judgments/", **ndjson(votes)).status_code in (200, 201)

    export = http.get("/projects/hh/export/", params={"format": "dpo", "filetype": "parquet"})
    assert export.status_code == 200
    path = tmp_path / "hh-dpo.parquet"
    path.write_bytes(export.content)
    return path


@pytest.fixture
def kto_parquet(http, tmp_path) -> Path:
    """The `kto` Parquet export of a verdict project (preset helpful-harmless-verdict) whose
    items are HH-RLHF prompts with their two answers, each judged good or bad by a simulated
    crowd that mostly calls HH-RLHF's chosen answer good and its rejected one bad."""
    if not HH_RLHF.exists():
        pytest.skip(f"no HH-RLHF sample at {HH_RLHF} (set HH_RLHF_PATH)")
    pairs = [json.loads(line) for line in HH_RLHF.read_text().splitlines()[:N_ITEMS]]
    project = {"slug": "hh-kto", "name": "HH-RLHF verdicts", "preset": "helpful-harmless-verdict"}
    assert http.post("/projects/", json=project).status_code == 201
    assert http.post("/projects/hh-kto/items/", **ndjson(pairs)).status_code in (200, 201)

    items = http.get("/projects/hh-kto/export/", params={"format": "items"})
    item_ids = [json.loads(line)["id"] for line in items.text.splitlines()]
    rng = np.random.default_rng(15)
    verdicts = []
    for item_id in item_ids:
        for response, good in (("chosen", True), ("rejected", False)):
            for voter in range(VOTERS):
                agrees = rng.random() < FOLLOWS_ORIGINAL
                verdict = good if agrees else not good
                verdicts.append(
                    {
                        "annotator": f"crowd-{voter}",
                        "item": item_id,
                        "response": response,
                        "scores": {"helpful": verdict, "harmless": True},
                    }
                )
    assert http.post("/projects/hh-kto/judgments/", **ndjson(verdicts)).status_code in (200, 201)

    export = http.get("/projects/hh-kto/export/", params={"format": "kto", "filetype": "parquet"})
    assert export.status_code == 200
    path = tmp_path / "hh-kto.parquet"
    path.write_bytes(export.content)
    return path


def local_tokenizer(dataset, tmp_path):
    """A byte-level BPE tokenizer trained on the export's texts, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    row_names = dataset.column_names

    def texts():
        columns = [c for c in ("prompt", "chosen", "rejected", "completion") if c in row_names]
        for row in dataset:
            for column in columns:
                value = row[column]
                messages = value if isinstance(value, list) else [{"content": value}]
                yield from (message["content"] for message in messages)

    special = ["<|pad|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<|pad|>", eos_token="<|end|>", bos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_gpt2(tokenizer, *, reward: bool):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=512,
        n_embd=64,
        n_layer=2,
        n_head=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        num_labels=1,
    )
    return GPT2ForSequenceClassification(config) if reward else GPT2LMHeadModel(config)


def common_args(tmp_path, name: str) -> dict:
    return {
        "output_dir": str(tmp_path / name),
        "max_steps": STEPS,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "bf16": False,
        "max_length": 256,
        "seed": 0,
        "disable_tqdm": True,
    }


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def report(name: str, values: list[float], seconds: float) -> None:
    shown = ", ".join(f"{value:.4f}" for value in values)
    print(f"\n{name}: {len(values)} steps in {seconds:.1f} s, loss {shown}")


def test_dpo_export_trains_dpo_and_reward_trainers_as_it_comes(trl, dpo_parquet, tmp_path):
    import datasets

    dataset = datasets.load_dataset(
        "parquet", data_files=str(dpo_parquet), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert dataset.num_rows > 50
    assert isinstance(dataset[0]["prompt"], list)  # HH-RLHF conversations: TRL's chat form
    print(f"\ndpo export: {dataset.num_rows} pairs, columns {dataset.column_names}")
    tokenizer = local_tokenizer(dataset, tmp_path)

    started = time.perf_counter()
    dpo = trl.DPOTrainer(
        model=tiny_gpt2(tokenizer, reward=False),
        ref_model=tiny_gpt2(tokenizer, reward=False),  # the same weights (same seed)
        args=trl.DPOConfig(**common_args(tmp_path, "dpo"), beta=0.1),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    dpo.train()
    report("DPOTrainer", losses(dpo), time.perf_counter() - started)

    started = time.perf_counter()
    reward = trl.RewardTrainer(
        model=tiny_gpt2(tokenizer, reward=True),
        args=trl.RewardConfig(**common_args(tmp_path, "reward")),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    reward.train()
    report("RewardTrainer", losses(reward), time.perf_counter() - started)

    for trainer in (dpo, reward):
        assert trainer.state.global_step == STEPS
        assert len(losses(trainer)) == STEPS
        assert all(math.isfinite(value) for value in losses(trainer))
    # The untrained DPO loss is log 2 (policy = reference): the first step starts there.
    assert losses(dpo)[0] == pytest.approx(math.log(2), abs=0.05)


def test_kto_export_trains_the_kto_trainer_as_it_comes(trl, kto_parquet, tmp_path):
    import datasets

    dataset = datasets.load_dataset(
        "parquet", data_files=str(kto_parquet), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert dataset.num_rows > 100
    assert set(dataset["label"]) == {True, False}  # KTO needs both desirable and undesirable
    assert isinstance(dataset[0]["prompt"], list) and isinstance(dataset[0]["completion"], list)
    print(f"\nkto export: {dataset.num_rows} rows, columns {dataset.column_names}")
    tokenizer = local_tokenizer(dataset, tmp_path)

    started = time.perf_counter()
    kto = trl.KTOTrainer(
        model=tiny_gpt2(tokenizer, reward=False),
        ref_model=tiny_gpt2(tokenizer, reward=False),
        args=trl.KTOConfig(**common_args(tmp_path, "kto"), beta=0.1),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    kto.train()
    report("KTOTrainer", losses(kto), time.perf_counter() - started)

    assert kto.state.global_step == STEPS
    assert len(losses(kto)) == STEPS
    assert all(math.isfinite(value) for value in losses(kto))
