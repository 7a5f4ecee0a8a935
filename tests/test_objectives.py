"""Each objective alone overfits a tiny batch; objective names and options fail with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch

from alptk.config import from_dict
from alptk.data.datasets import Batch
from alptk.data.tokenizer import Tokenizer, train_tokenizer
from alptk.errors import AlptkError, ConfigError
from alptk.models.layers import padding_mask
from alptk.models.model import ALPModel, ModelConfig
from alptk.objectives import OBJECTIVES
from alptk.objectives.base import Objective
from alptk.objectives.masked_speech import fit_kmeans, nearest

SENTENCES = ["the red cat sleeps", "we buy twelve apples today", "where is the old bicycle"]
SMALL = {"heads": 4, "ffn_dim": 128, "dropout": 0.0}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    corpus = tmp_path_factory.mktemp("tok") / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n")
    return train_tokenizer([corpus], corpus.parent / "tok", "char", 60, symbols=["<mask>", "<fr>"])


def tiny_batch(tokenizer: Tokenizer) -> Batch:
    """Three utterances of smooth pseudo-fbank (so masked frames are predictable from context) and their text."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([96, 80, 72])
    feats = torch.randn(3, 96, 80, generator=generator).cumsum(dim=1) / 4
    feats[1, 80:] = feats[2, 72:] = 0
    tokens = [torch.tensor(tokenizer.encode(s)) for s in SENTENCES]
    padded = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True)
    return Batch(["a", "b", "c"], feats, lengths, padded, torch.tensor([len(t) for t in tokens]))


def small_model(vocab_size: int, heads: list[str] | None = None, **options: Any) -> ALPModel:
    torch.manual_seed(0)
    config = ModelConfig(
        **options,
        d_model=64,
        vocab_size=vocab_size,
        frontend={"type": "fbank", "channels": 32, "dropout": 0.0, "specaugment": None},
        speech_encoder={"type": "conformer", "layers": 2, "kernel_size": 7, **SMALL},
        text_encoder={"type": "transformer", "layers": 2, **SMALL},
        decoder={"type": "transformer", "layers": 1, **SMALL},
        dropout=0.0,
        speech_dropout=0.0,
        heads=heads,
    )
    return ALPModel(config)


@pytest.mark.parametrize(
    ("name", "steps", "factor"),
    [
        *[("s2t", 80, 5), ("mlm", 300, 4), ("denoise", 150, 4), ("stm", 100, 5), ("tts", 80, 3)],
        *[("fastspeech", 80, 3), ("masked_speech", 120, 3), ("lm", 100, 3)],
    ],
)
def test_objective_overfits_a_tiny_batch(tokenizer: Tokenizer, name: str, steps: int, factor: float):
    cls = OBJECTIVES.get(name)
    model = small_model(len(tokenizer), heads=list(cls.needed_heads(cls.Config())))  # the heads it declares do
    assert_overfits(name, model, cls(model, cls.Config(), tokenizer), tiny_batch(tokenizer), steps, factor)


def test_matching_of_token_bags_overfits_without_the_binary_head(tokenizer: Tokenizer):
    stm = OBJECTIVES.get("stm")
    model = small_model(len(tokenizer), heads=list(stm.heads), matching_input="tokens")
    assert model.has_head("ctc_head")  # the speech side's bag of tokens
    objective = stm(model, stm.Config(binary_weight=0), tokenizer)
    assert objective.classifier is None and "binary" not in objective(model, tiny_batch(tokenizer))[1]
    assert_overfits("stm", model, objective, tiny_batch(tokenizer), 100, 5)


def assert_overfits(name: str, model: ALPModel, objective: Objective, batch: Batch, steps: int, factor: float):
    model.frontend.cmvn.mean.copy_(batch.feats[0, :96].mean(0))
    model.frontend.cmvn.std.copy_(batch.feats[0, :96].std(0))
    optimizer = torch.optim.Adam([*model.parameters(), *objective.parameters()], lr=2e-3)
    losses = []
    for step in range(steps):
        torch.manual_seed(step)
        loss, metrics = objective(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(v.ndim == 0 and not v.requires_grad for v in metrics.values())
    window = max(3, steps // 10)  # masks are random each step: compare averages
    first, last = sum(losses[:window]) / window, sum(losses[-window:]) / window
    assert last < first / factor, f"{name}: loss {first:.3f} -> {last:.3f}"


def test_objective_streams_and_errors(tokenizer: Tokenizer):
    streams = {name: OBJECTIVES.get(name).stream for name in OBJECTIVES.names()}
    assert streams == {
        **{"denoise": "text", "lm": "text", "masked_speech": "speech", "mlm": "text"},
        **{"fastspeech": "paired", "s2t": "paired", "stm": "paired", "tts": "paired"},
    }
    with pytest.raises(
        ConfigError, match=r"unknown objective 'ctc' \(choose from denoise, fastspeech, lm, masked_speech"
    ):
        OBJECTIVES.get("ctc")
    with pytest.raises(ConfigError, match=r"mlm: unknown key 'mask_rate' \(valid keys: mask_prob, mask_token\)"):
        from_dict(OBJECTIVES.get("mlm").Config, {"mask_rate": 0.2}, "mlm")
    model = small_model(len(tokenizer))
    s2t = OBJECTIVES.get("s2t")
    with pytest.raises(AlptkError, match=r"^token '<de>' is not in the tokenizer's vocabulary$"):
        s2t(model, s2t.Config(start_token="<de>"), tokenizer)


def test_objectives_declare_their_heads_and_need_them(tokenizer: Tokenizer):
    heads = {name: OBJECTIVES.get(name).heads for name in OBJECTIVES.names()}
    assert heads == {
        **{"s2t": ("ctc_head", "text_head"), "lm": ("text_head",), "mlm": ("text_head",), "denoise": ("text_head",)},
        **{"stm": ("speech_matching", "text_matching"), "masked_speech": (), "tts": ("speech_prenet", "speech_head")},
        "fastspeech": ("speech_head", "duration_predictor", "length_regulator"),
    }
    fastspeech = OBJECTIVES.get("fastspeech")
    assert fastspeech.needed_heads(fastspeech.Config()) == (*heads["fastspeech"], "ctc_head")  # it aligns itself
    assert fastspeech.needed_heads(fastspeech.Config(aligner="exp/asr")) == heads["fastspeech"]
    s2t = OBJECTIVES.get("s2t")
    with pytest.raises(
        ConfigError,
        match=r"^objective s2t needs the model's ctc_head, which it was built without \(its heads: text_head\); "
        r"add it to model_options.heads$",
    ):
        s2t(small_model(len(tokenizer), heads=["text_head"]), s2t.Config(), tokenizer)
    with pytest.raises(
        ConfigError, match=r"objective tts needs the model's speech_prenet, speech_head, .*\(its heads: none\)"
    ):
        OBJECTIVES.get("tts")(small_model(len(tokenizer), heads=[]), OBJECTIVES.get("tts").Config(), tokenizer)


def test_fastspeech_durations_follow_ctc_alignment(tokenizer: Tokenizer):
    """Durations tile each utterance's decoder steps; a token lasts from its CTC spike to the next one's."""
    model, batch = small_model(len(tokenizer)), tiny_batch(tokenizer)
    batch.feats, batch.feat_lengths = torch.randn(3, 400, 80), torch.tensor([400, 360, 300])  # 2 frames per token
    cls = OBJECTIVES.get("fastspeech")
    objective = cls(model, cls.Config(), tokenizer)
    steps = -(-batch.feat_lengths // 2)
    durations = objective.durations(batch, steps, model)
    assert durations.sum(dim=1).tolist() == steps.tolist() and (durations >= 0).all()
    assert (durations[padding_mask(batch.token_lengths, durations.shape[1]).logical_not()] == 0).all()
    # a CTC head that spikes token k at encoder frame 2k + 1 (and is sure of blank elsewhere)
    frames = model.frontend.subsampled(batch.feat_lengths)
    spikes = torch.full((3, int(frames.max()), len(tokenizer)), -30.0)
    spikes[..., 0] = 0.0
    for u, count in enumerate(batch.token_lengths.tolist()):
        for k in range(count):
            spikes[u, 2 * k + 1, batch.tokens[u, k]], spikes[u, 2 * k + 1, 0] = 0.0, -30.0
    model.ctc_head.forward = lambda _: spikes
    durations = objective.durations(batch, steps, model)
    scale = steps[0].item() / frames[0].item()  # 200 steps over 99 encoder frames
    assert durations[0, 0].item() == round(3 * scale)  # the leading blank joins the first token
    assert durations[0, 1].item() == round(5 * scale) - round(3 * scale)  # frames 3-4
    count = batch.token_lengths[0].item()
    assert durations[0, count - 1].item() == steps[0].item() - round((2 * count - 1) * scale)  # and trailing ones


def test_translation_start_token(tokenizer: Tokenizer):
    s2t = OBJECTIVES.get("s2t")
    objective = s2t(small_model(len(tokenizer)), s2t.Config(start_token="<fr>"), tokenizer)
    assert objective.start == tokenizer.token_id("<fr>") != tokenizer.bos_id


def test_kmeans_finds_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + torch.randn(200, 2, generator=generator) for c in centers])
    found = fit_kmeans(points, 3, iterations=10)
    matched = nearest(centers, found)
    assert sorted(matched.tolist()) == [0, 1, 2]
    assert torch.allclose(found[matched], centers, atol=0.3)


def test_masked_speech_kmeans_targets(tokenizer: Tokenizer, tmp_path: Path):
    model = small_model(len(tokenizer))
    cls = OBJECTIVES.get("masked_speech")
    with pytest.raises(ConfigError, match="quantizer kmeans needs 'kmeans:' a centroids file"):
        cls(model, cls.Config(quantizer="kmeans"), tokenizer)
    batch = tiny_batch(tokenizer)
    stacks = batch.feats[0, :96].reshape(24, -1)
    centroids = fit_kmeans(stacks, 8, seed=1)
    safetensors.torch.save_file({"centroids": centroids}, str(tmp_path / "c.safetensors"))
    objective = cls(model, cls.Config(quantizer="kmeans", kmeans=str(tmp_path / "c.safetensors")), tokenizer)
    assert objective.predict.out_features == 8
    assert torch.equal(objective.targets(batch.feats[:1, :96], 24)[0], nearest(stacks, centroids))
    loss, _ = objective(model, batch)
    assert loss.item() > 0
