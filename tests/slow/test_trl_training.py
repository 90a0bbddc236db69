"""The `dpo` export trains TRL's DPOTrainer and RewardTrainer, and the `kto` export its
KTOTrainer, as they come (README "Exports"): a project is built over HTTP from HH-RLHF pairs
(shared/data), a simulated crowd votes (or gives verdicts, rankings or rewrites), the Parquet
export is pulled over HTTP and loaded with `datasets`, and each trainer runs a few steps on a
tiny GPT-2 built from a config, with a tokenizer trained here on the export's own texts
(nothing is downloaded). Covered: pairwise `dpo` with conversational prompts (HH-RLHF's chat
form), `dpo` of a ranking project for each `expand`, `dpo` with `include_rewrites` with plain
text prompts (TRL's standard form), and `kto` with conversational prompts.

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
N_RANKED = 100  # ranking items (three responses each)
REWRITE_EVERY = 4  # the first annotator rewrites the preferred reply of every 4th item
REWRITE_ADDS = "If you are unsure whether this is safe, please ask someone you trust first."
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


def hh_rows() -> list[dict]:
    """The first N_ITEMS rows of the HH-RLHF sample (the test skips without it)."""
    if not HH_RLHF.exists():
        pytest.skip(f"no HH-RLHF sample at {HH_RLHF} (set HH_RLHF_PATH)")
    return [json.loads(line) for line in HH_RLHF.read_text().splitlines()[:N_ITEMS]]


def hh_split(row: dict) -> tuple[list[dict[str, str]], str, str]:
    """An HH-RLHF row's shared conversation (chat messages) and its two final replies, split
    as the item import splits them."""
    from annotation.services.importing import split_hh_conversation

    return split_hh_conversation(row["chosen"], row["rejected"])


def build_project(http, project: dict, items: list[dict]) -> list[str]:
    """Create the project and import its items over HTTP; the item ids as exported."""
    assert http.post("/projects/", json=project).status_code == 201
    slug = project["slug"]
    assert http.post(f"/projects/{slug}/items/", **ndjson(items)).status_code in (200, 201)
    exported = http.get(f"/projects/{slug}/export/", params={"format": "items"})
    return [json.loads(line)["id"] for line in exported.text.splitlines()]


def import_judgments(http, slug: str, judgments: list[dict]) -> None:
    imported = http.post(f"/projects/{slug}/judgments/", **ndjson(judgments))
    assert imported.status_code in (200, 201), imported.text


def pull_parquet(http, tmp_path, slug: str, **params) -> Path:
    """The project's Parquet export with these parameters, saved as a file."""
    export = http.get(f"/projects/{slug}/export/", params={"filetype": "parquet", **params})
    assert export.status_code == 200, export.text
    path = tmp_path / f"{slug}-{params['format']}.parquet"
    path.write_bytes(export.content)
    return path


def load_parquet(path: Path, tmp_path):
    """The file as a trainer gets it: `load_dataset("parquet", ...)`, nothing converted."""
    import datasets

    return datasets.load_dataset(
        "parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )


@pytest.fixture
def dpo_parquet(http, tmp_path) -> Path:
    """The `dpo` Parquet export of a project of HH-RLHF pairs with simulated votes."""
    project = {"slug": "hh", "name": "HH-RLHF harmless", "kind": "pairwise", "allow_tie": True}
    item_ids = build_project(http, project, hh_rows())
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
    import_judgments(http, "hh", votes)
    return pull_parquet(http, tmp_path, "hh", format="dpo")


@pytest.fixture
def kto_parquet(http, tmp_path) -> Path:
    """The `kto` Parquet export of a verdict project (preset helpful-harmless-verdict) whose
    items are HH-RLHF prompts with their two answers, each judged good or bad by a simulated
    crowd that mostly calls HH-RLHF's chosen answer good and its rejected one bad."""
    project = {"slug": "hh-kto", "name": "HH-RLHF verdicts", "preset": "helpful-harmless-verdict"}
    item_ids = build_project(http, project, hh_rows())
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
    import_judgments(http, "hh-kto", verdicts)
    return pull_parquet(http, tmp_path, "hh-kto", format="kto")


@pytest.fixture
def ranked_project(http) -> str:
    """A ranking project of N_RANKED HH-RLHF conversations, each with three responses: its
    chosen and rejected replies and an off-topic one (the next conversation's chosen reply).
    A simulated crowd ranks them: mostly chosen, rejected, off-topic; sometimes the first two
    swapped or tied; the off-topic reply always last."""
    rows = hh_rows()[: N_RANKED + 1]
    items = []
    for index, row in enumerate(rows[:-1]):
        messages, chosen, rejected = hh_split(row)
        _, off_topic, _ = hh_split(rows[index + 1])
        items.append(
            {
                "id": f"hh-{index}",
                "prompt": messages,
                "responses": [
                    {"id": "chosen", "model": "hh-chosen", "text": chosen},
                    {"id": "rejected", "model": "hh-rejected", "text": rejected},
                    {"id": "off_topic", "model": "hh-other-prompt", "text": off_topic},
                ],
            }
        )
    project = {"slug": "hh-ranked", "name": "HH-RLHF ranked", "kind": "ranking", "allow_tie": True}
    item_ids = build_project(http, project, items)
    rng = np.random.default_rng(16)
    rankings = []
    for item_id in item_ids:
        for voter in range(VOTERS):
            draw = rng.random()
            if draw < FOLLOWS_ORIGINAL:
                top = [["chosen"], ["rejected"]]
            elif draw < 0.9:
                top = [["rejected"], ["chosen"]]
            else:
                top = [["chosen", "rejected"]]
            rankings.append(
                {"annotator": f"crowd-{voter}", "item": item_id, "ranking": [*top, ["off_topic"]]}
            )
    import_judgments(http, "hh-ranked", rankings)
    return "hh-ranked"


@pytest.fixture
def rewrites_parquet(http, tmp_path) -> Path:
    """The `dpo` Parquet export with `include_rewrites=true` of a pairwise project whose items
    come in TRL's standard form (the HH-RLHF conversation as one text prompt), where a
    simulated crowd votes and, on every REWRITE_EVERY-th item, the first annotator also
    rewrites the reply they preferred."""
    items = []
    for index, row in enumerate(hh_rows()):
        messages, chosen, rejected = hh_split(row)
        turns = [
            f"{'Human' if message['role'] == 'user' else 'Assistant'}: {message['content']}"
            for message in messages
        ]
        prompt = "\n\n".join(turns) + "\n\nAssistant:"
        items.append(
            {"id": f"hh-{index}", "prompt": prompt, "chosen": chosen, "rejected": rejected}
        )
    project = {
        "slug": "hh-rewrites",
        "name": "HH-RLHF with rewrites",
        "kind": "pairwise",
        "allow_tie": True,
        "rewrite": "optional",
    }
    assert sorted(build_project(http, project, items)) == sorted(item["id"] for item in items)
    rng = np.random.default_rng(17)
    votes = []
    for position, item in enumerate(items):
        for voter in range(VOTERS):
            vote = {
                "annotator": f"crowd-{voter}",
                "item": item["id"],
                "a": "chosen",
                "b": "rejected",
                "choice": "a" if rng.random() < FOLLOWS_ORIGINAL else "b",
            }
            if voter == 0 and position % REWRITE_EVERY == 0:
                preferred = item["chosen" if vote["choice"] == "a" else "rejected"]
                vote["rewrite"] = f"{preferred} {REWRITE_ADDS}".strip()
            votes.append(vote)
    import_judgments(http, "hh-rewrites", votes)
    return pull_parquet(http, tmp_path, "hh-rewrites", format="dpo", include_rewrites="true")


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


def assert_trained(trainer) -> None:
    assert trainer.state.global_step == STEPS
    assert len(losses(trainer)) == STEPS
    assert all(math.isfinite(value) for value in losses(trainer))


def train_dpo(trl, dataset, tokenizer, tmp_path):
    """DPOTrainer a few steps on the dataset as it comes; the trainer, checked."""
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
    assert_trained(dpo)
    # The untrained DPO loss is log 2 (policy = reference): the first step starts there.
    assert losses(dpo)[0] == pytest.approx(math.log(2), abs=0.05)
    return dpo


def test_dpo_export_trains_dpo_and_reward_trainers_as_it_comes(trl, dpo_parquet, tmp_path):
    dataset = load_parquet(dpo_parquet, tmp_path)
    assert dataset.num_rows > 50
    assert isinstance(dataset[0]["prompt"], list)  # HH-RLHF conversations: TRL's chat form
    print(f"\ndpo export: {dataset.num_rows} pairs, columns {dataset.column_names}")
    tokenizer = local_tokenizer(dataset, tmp_path)

    train_dpo(trl, dataset, tokenizer, tmp_path)

    started = time.perf_counter()
    reward = trl.RewardTrainer(
        model=tiny_gpt2(tokenizer, reward=True),
        args=trl.RewardConfig(**common_args(tmp_path, "reward")),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    reward.train()
    report("RewardTrainer", losses(reward), time.perf_counter() - started)
    assert_trained(reward)


@pytest.mark.parametrize("expand", ["adjacent", "all", "best_worst"])
def test_ranking_dpo_export_trains_the_dpo_trainer_for_each_expand(
    trl, http, ranked_project, tmp_path, expand
):
    path = pull_parquet(http, tmp_path, ranked_project, format="dpo", expand=expand)
    dataset = load_parquet(path, tmp_path)
    print(f"\ndpo export, expand={expand}: {dataset.num_rows} pairs of {N_RANKED} items")
    assert set(dataset["source"]) == {"ranking"}
    assert set(dataset["expand"]) == {expand}
    pairs: dict[str, set[tuple[str, str]]] = {}
    for row in dataset:
        pairs.setdefault(row["item_id"], set()).add((row["chosen_id"], row["rejected_id"]))
    assert len(pairs) == N_RANKED  # every item gives at least one pair
    assert sum(len(item_pairs) for item_pairs in pairs.values()) == dataset.num_rows  # no repeat
    assert "off_topic" not in dataset["chosen_id"]  # always ranked last
    if expand == "all":  # every ranking puts both HH-RLHF replies above the off-topic one
        assert all(
            {("chosen", "off_topic"), ("rejected", "off_topic")} <= item_pairs
            for item_pairs in pairs.values()
        )
    if expand == "best_worst":  # the first group against the last: the off-topic reply
        assert set(dataset["rejected_id"]) == {"off_topic"}
    assert isinstance(dataset[0]["prompt"], list)
    assert [message["role"] for message in dataset[0]["chosen"]] == ["assistant"]
    tokenizer = local_tokenizer(dataset, tmp_path)

    train_dpo(trl, dataset, tokenizer, tmp_path)


def test_dpo_export_with_rewrites_trains_the_dpo_trainer(trl, rewrites_parquet, tmp_path):
    dataset = load_parquet(rewrites_parquet, tmp_path)
    rewrites = dataset.filter(lambda row: row["source"] == "rewrite")
    print(f"\ndpo export with rewrites: {dataset.num_rows} rows, {rewrites.num_rows} rewrites")
    assert rewrites.num_rows == math.ceil(N_ITEMS / REWRITE_EVERY)
    assert set(rewrites["chosen_model"]) == {"human_rewrite"}
    assert all(chosen.endswith(REWRITE_ADDS) for chosen in rewrites["chosen"])
    assert dataset.num_rows > rewrites.num_rows + 50  # the voted pairs come first
    # TRL's standard form: text prompt, text replies.
    assert all(isinstance(dataset[0][column], str) for column in ("prompt", "chosen", "rejected"))
    tokenizer = local_tokenizer(dataset, tmp_path)

    train_dpo(trl, dataset, tokenizer, tmp_path)


def test_kto_export_trains_the_kto_trainer_as_it_comes(trl, kto_parquet, tmp_path):
    dataset = load_parquet(kto_parquet, tmp_path)
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
    assert_trained(kto)
