"""Model zoo: registry errors, shapes, padding invariance, causality, rotary positions, SpecAugment, CMVN, presets."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from alptk.cli import app
from alptk.config import from_dict, to_dict
from alptk.errors import ConfigError
from alptk.models.frontend import GlobalCMVN, SpecAugment, SpecAugmentConfig, warp_frequency
from alptk.models.heads import LengthRegulator
from alptk.models.layers import Dropout, MaskedBatchNorm, MultiHeadAttention, RotaryEmbedding, dropout, padding_mask
from alptk.models.model import HEADS, ALPModel, ModelConfig, load_model_config, part_parameters
from alptk.objectives.tts import guided_attention_loss
from alptk.train.checkpoint import token_dims


@pytest.fixture(scope="module")
def model() -> ALPModel:
    torch.manual_seed(0)
    config = load_model_config("tiny", vocab_size=60)
    config.speech_encoder = {**config.speech_encoder, "layers": 2}
    return ALPModel(config).eval()


def test_registry_errors_name_the_choices():
    with pytest.raises(ConfigError, match=r"unknown encoder 'lstm' \(choose from conformer, transformer\)"):
        ALPModel(ModelConfig(speech_encoder={"type": "lstm"}))
    with pytest.raises(ConfigError, match=r"text_encoder: unknown key 'layer' \(valid keys: layers, heads"):
        ALPModel(ModelConfig(text_encoder={"type": "transformer", "layer": 2}))
    with pytest.raises(ConfigError, match=r"decoder: expected a mapping with 'type'"):
        ALPModel(ModelConfig(decoder={"layers": 2}))
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge' \(choose from base, large, tiny\)"):
        load_model_config("huge")


def test_shapes(model: ALPModel):
    feats, lengths = torch.randn(2, 203, 80), torch.tensor([203, 150])
    memory, memory_lengths = model.encode_speech(feats, lengths)
    assert memory.shape == (2, 50, 144) and memory_lengths.tolist() == [50, 36]
    tokens, token_lengths = torch.randint(4, 60, (2, 9)), torch.tensor([9, 5])
    assert model.encode_text(tokens, token_lengths).shape == (2, 9, 144)
    assert model.decode_text(tokens, token_lengths, memory, memory_lengths).shape == (2, 9, 60)
    assert model.ctc_head(memory).shape == (2, 50, 60)
    mel, post, stop = model.decode_speech(torch.randn(2, 7, 160), torch.tensor([7, 4]), memory, memory_lengths)
    assert mel.shape == post.shape == (2, 14, 80) and stop.shape == (2, 14)
    embedding = model.speech_matching(memory, memory_lengths)
    assert embedding.shape == (2, 128) and torch.allclose(embedding.norm(dim=-1), torch.ones(2))


def test_token_bag_matching():
    """matching_input tokens: speech is its CTC posteriors' bag (blank left out), text its tokens' bag, through one
    projection at the start; only a bag's proportions count."""
    torch.manual_seed(0)
    config = load_model_config(
        "tiny", vocab_size=60, matching_input="tokens", heads=["text_matching", "speech_matching"]
    )
    model = ALPModel(config).eval()
    assert model.heads == ("ctc_head", "speech_matching", "text_matching")
    assert torch.equal(model.speech_matching.project.weight, model.text_matching.project.weight)
    assert model.speech_matching.project.weight.shape == (128, 60) and model.speech_matching.project.bias is None
    with torch.no_grad():  # a CTC head that hears tokens 7 and 9 equally often, and blank more than either
        model.ctc_head.project.weight.zero_()
        model.ctc_head.project.bias.fill_(-30).index_fill_(0, torch.tensor([7, 9]), 10.0)[0] = 11.0
    memory, memory_lengths = model.encode_speech(torch.randn(2, 203, 80), torch.tensor([203, 150]))
    speech = model.match_speech(memory, memory_lengths)
    text = model.match_text(torch.tensor([[7, 9, 9, 7], [9, 7, 0, 0]]), torch.tensor([4, 2]))
    assert torch.allclose(speech, text, atol=1e-5) and torch.allclose(speech.norm(dim=-1), torch.ones(2))
    other = model.match_text(torch.tensor([[7, 7, 7, 9]]), torch.tensor([4]))
    assert (other @ speech[0]).item() < 0.99  # other proportions, another embedding


def test_padding_does_not_change_valid_outputs(model: ALPModel):
    short, long = torch.randn(1, 120, 80), torch.randn(1, 203, 80)
    batch = torch.cat([torch.nn.functional.pad(short, (0, 0, 0, 83)), long])
    alone, alone_lengths = model.encode_speech(short, torch.tensor([120]))
    together, lengths = model.encode_speech(batch, torch.tensor([120, 203]))
    assert lengths[0] == alone_lengths[0]
    assert torch.allclose(together[0, : lengths[0]], alone[0], atol=1e-5)
    tokens = torch.randint(4, 60, (1, 6))
    padded = torch.cat([torch.nn.functional.pad(tokens, (0, 4)), torch.randint(4, 60, (1, 10))])
    text_alone = model.decode_text(tokens, torch.tensor([6]), alone, alone_lengths)
    text_together = model.decode_text(padded, torch.tensor([6, 10]), together, lengths)
    assert torch.allclose(text_together[0, :6], text_alone[0], atol=1e-5)


def test_decoder_is_causal(model: ALPModel):
    memory, lengths = model.encode_speech(torch.randn(1, 100, 80), torch.tensor([100]))
    tokens = torch.randint(4, 60, (1, 8))
    changed = tokens.clone()
    changed[0, 5:] = (changed[0, 5:] + 1) % 60
    before = model.decode_text(tokens, torch.tensor([8]), memory, lengths)
    after = model.decode_text(changed, torch.tensor([8]), memory, lengths)
    assert torch.allclose(before[0, :5], after[0, :5], atol=1e-6) and not torch.allclose(before[0, 5:], after[0, 5:])


def test_parallel_speech_decoding_sees_every_step(model: ALPModel):
    text = model.encode_text(torch.randint(4, 60, (2, 4)), torch.tensor([4, 2]))
    durations = torch.tensor([[3, 1, 0, 2], [2, 2, 0, 0]])
    mel, post, lengths = model.decode_speech_parallel(text, torch.tensor([4, 2]), durations)
    assert mel.shape == post.shape == (2, 12, 80) and lengths.tolist() == [6, 4]
    changed = durations.clone()
    changed[0, 3] = 3  # a longer last token changes the first frames too: the decoder is not causal here
    _, longer, _ = model.decode_speech_parallel(text, torch.tensor([4, 2]), changed)
    assert not torch.allclose(longer[0, :2], post[0, :2], atol=1e-4)
    assert torch.allclose(longer[1, :8], post[1, :8], atol=1e-5)  # the other utterance is unchanged
    log_durations = model.duration_predictor(text, torch.tensor([4, 2]))
    garbage = torch.cat([text[1:, :2], torch.randn(1, 2, 144)], dim=1)
    assert log_durations.shape == (2, 4)
    assert torch.allclose(model.duration_predictor(garbage, torch.tensor([2]))[0, :2], log_durations[1, :2], atol=1e-5)


def test_length_regulator_repeats_states_and_marks_progress():
    regulator = LengthRegulator(3)
    torch.nn.init.eye_(regulator.position.weight)
    torch.nn.init.zeros_(regulator.position.bias)  # the output is then the states plus the position features
    x = torch.tensor([[[1.0, 0, 0], [2, 0, 0], [3, 0, 0]], [[4, 0, 0], [5, 0, 0], [0, 0, 0]]])
    expanded, lengths = regulator(x, torch.tensor([[2, 0, 1], [1, 3, 0]]))
    assert lengths.tolist() == [3, 4]
    progress = [[0.25, 0.75, 0.5, 0], [0.5, 1 / 6, 0.5, 5 / 6]]  # mid-step, as a share of the token
    assert torch.allclose(expanded[..., 0] - torch.tensor(progress), torch.tensor([[1.0, 1, 3, 0], [4, 5, 5, 5]]))
    assert torch.allclose(expanded[..., 1], torch.tensor([[0.75, 0.25, 0.5, 0], [0.5, 5 / 6, 0.5, 1 / 6]]))
    log_durations = torch.tensor([[2, 2, 1, 1], [1, 3, 3, 3]]).log()
    assert torch.allclose(
        expanded[..., 2], log_durations.masked_fill(torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0]]) > 0, 0)
    )


def test_cross_attention_weights_are_what_forward_attends_with():
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, heads=2, rotary=False)
    x, memory, memory_mask = torch.randn(2, 5, 16), torch.randn(2, 7, 16), padding_mask(torch.tensor([7, 4]))
    output, weights = attention.cross_attention_with_weights(x, memory, memory_mask)  # weights (batch, heads, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2, 5)) and (weights[1, :, :, 4:] == 0).all()
    values = attention.value(memory).view(2, 7, 2, 8).transpose(1, 2)
    by_hand = attention.out((weights @ values).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attention(x, memory=memory, key_mask=memory_mask), by_hand)
    torch.testing.assert_close(output, by_hand)


def test_guided_attention_loss_penalizes_off_diagonal_mass():
    steps, tokens = torch.tensor([8, 6]), torch.tensor([4, 3])
    diagonal = torch.zeros(2, 1, 8, 4)
    for b in range(2):
        for n in range(int(steps[b])):
            diagonal[b, 0, n, n * int(tokens[b]) // int(steps[b])] = 1.0
    reversed_ = diagonal.clone()
    for b in range(2):
        reversed_[b, :, : steps[b], : tokens[b]] = diagonal[b, :, : steps[b], : tokens[b]].flip(-1)
    near = guided_attention_loss([diagonal], steps, tokens, sigma=0.4)
    far = guided_attention_loss([reversed_, reversed_], steps, tokens, sigma=0.4)
    assert 0 <= near < 0.05 and far > 0.3
    padded = diagonal.clone()
    padded[1, 0, 6:] = 1.0  # attention of padded steps does not count
    assert guided_attention_loss([padded], steps, tokens, sigma=0.4) == near


def test_rotary_scores_depend_on_relative_position_only():
    rotary = RotaryEmbedding(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    at = lambda x, pos: rotary(x.expand(1, 1, pos + 1, 16).contiguous())[0, 0, pos]  # noqa: E731
    assert torch.allclose(at(q, 3) @ at(k, 1), at(q, 10) @ at(k, 8), atol=1e-5)
    assert not torch.allclose(at(q, 3) @ at(k, 1), at(q, 3) @ at(k, 2), atol=1e-3)


def runs(mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-d boolean mask."""
    edges = torch.diff(torch.cat([torch.zeros(1), mask.float(), torch.zeros(1)])).nonzero().flatten()
    return (edges[1::2] - edges[::2]).tolist()


def test_specaugment_masks_only_in_training_and_inside_each_utterance():
    config = SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=0.2)
    augment = SpecAugment(config)
    draws, sizes = 50, [100, 60, 30, 10]
    x, lengths = torch.ones(4 * draws, 100, 80), torch.tensor(sizes * draws)
    torch.manual_seed(1)
    zero = augment.train()(x, lengths) == 0
    time_masked = zero.all(-1)  # whole frames: at most 2 x 10 of the 80 bins are frequency-masked
    for b, length in enumerate(lengths.tolist()):
        freq_masked = zero[b, :length].all(0)  # whole bands: time masks cover at most 2 x 20 % of the frames
        assert not time_masked[b, length:].any(), f"time mask in the padding of a {length}-frame utterance"
        assert torch.equal(zero[b], time_masked[b, :, None] | freq_masked[None, :])  # nothing but bands and spans
        time_width = max(1, int(length * config.time_width))
        assert len(runs(time_masked[b])) <= config.time_masks and time_masked[b].sum() <= 2 * time_width
        assert len(runs(freq_masked)) <= config.freq_masks and freq_masked.sum() <= 2 * config.freq_width
    for i, length in enumerate(sizes):  # over the draws, time masks reach both ends of each utterance, not beyond
        frames = time_masked[i::4].any(0).nonzero().flatten()
        assert (frames.min(), frames.max()) == (0, length - 1)
    assert 0 < zero.float().mean() < 0.5
    assert torch.equal(augment.eval()(x, lengths), x)


def test_vtlp_stretches_the_mel_axis_per_utterance():
    ramp = torch.arange(8.0).expand(2, 3, 8)
    warped = warp_frequency(ramp, torch.tensor([0.5, 1.2]))
    assert torch.allclose(warped[0, 0], torch.arange(8.0) * 0.5)  # formants move up: bin i reads bin i / 2
    assert torch.allclose(warped[1, 2], torch.tensor([0, 1.2, 2.4, 3.6, 4.8, 6.0, 7, 7]))  # the top bin repeats
    assert torch.equal(warp_frequency(ramp, torch.ones(2)), ramp)


def test_cmvn_from_kaldi_stats(tmp_path: Path):
    feats = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 80))
    stats = np.zeros((2, 81))
    stats[0, :80], stats[1, :80], stats[0, 80] = feats.sum(0), (feats**2).sum(0), len(feats)
    kaldiio.save_mat(str(tmp_path / "cmvn.ark"), stats)
    cmvn = GlobalCMVN(80)
    cmvn.load_kaldi_stats(tmp_path / "cmvn.ark")
    normalized = cmvn(torch.from_numpy(feats).float())
    assert torch.allclose(normalized.mean(0), torch.zeros(80), atol=1e-4)
    assert torch.allclose(normalized.std(0, unbiased=False), torch.ones(80), atol=1e-3)


def test_every_head_trains(model: ALPModel):
    model.train()
    feats, lengths = torch.randn(2, 80, 80), torch.tensor([80, 64])
    memory, memory_lengths = model.encode_speech(feats, lengths)
    tokens, token_lengths = torch.randint(4, 60, (2, 5)), torch.tensor([5, 3])
    text = model.encode_text(tokens, token_lengths)
    _, post, stop = model.decode_speech(torch.randn(2, 4, 160), torch.tensor([4, 3]), text, token_lengths)
    _, parallel, _ = model.decode_speech_parallel(text, token_lengths, torch.tensor([[1, 2, 1, 1, 1], [2, 1, 1, 0, 0]]))
    loss = (
        model.decode_text(tokens, token_lengths, memory, memory_lengths).logsumexp(-1).mean()
        + model.ctc_head(memory).mean()
        + post.mean()
        + stop.mean()
        + parallel.mean()
        + model.duration_predictor(text, token_lengths).mean()
        + model.speech_matching(memory, memory_lengths).sum()
        + model.text_matching(text, token_lengths).sum()
    )
    loss.backward()
    assert model.text_head.embedding.weight is model.text_embedding.weight
    gradients = {name: p.grad for name, p in model.named_parameters()}
    untrained = [name for name, g in gradients.items() if g is None or not (g.isfinite().all() and g.any())]
    assert untrained == []  # every parameter of every part gets a finite, non-zero gradient
    model.zero_grad()
    model.eval()


def test_a_model_builds_only_the_heads_it_is_given():
    full = ALPModel(load_model_config("tiny", vocab_size=60))
    assert full.heads == HEADS and all(full.has_head(head) for head in HEADS)  # heads: None builds every one
    asr = ALPModel(load_model_config("tiny", vocab_size=60, heads=["text_head", "ctc_head"]))
    assert asr.heads == ("ctc_head", "text_head")
    names = {name.split(".")[0] for name, _ in asr.named_parameters()}
    assert names == {"frontend", "speech_encoder", "text_embedding", "text_encoder", "decoder", "ctc_head", "text_head"}
    assert not any(name.startswith(("speech_head.", "duration_predictor.")) for name in asr.state_dict())
    assert sum(p.numel() for p in asr.parameters()) < sum(p.numel() for p in full.parameters())
    assert set(part_parameters(asr)) == {*names, "dropout"} and asr.text_head.embedding is asr.text_embedding
    assert not hasattr(asr, "speech_head") and not asr.has_head("speech_head")
    with pytest.raises(
        ConfigError, match=r"^this model was built without speech_head \(its heads: ctc_head, text_head\)"
    ):
        asr.speech_head(torch.zeros(1, 2, 144), torch.tensor([2]))
    with pytest.raises(
        ConfigError, match=r"model heads: unknown head 'post_net' \(choose from ctc_head, duration_pred"
    ):
        ALPModel(load_model_config("tiny", heads=["ctc_head", "post_net"]))
    assert set(token_dims(asr)) == {
        "text_embedding.weight",
        "text_head.embedding.weight",
        "text_head.bias",
        *(f"ctc_head.project.{n}" for n in ("weight", "bias")),
    }


def test_model_yaml_keeps_the_heads(tmp_path: Path):
    config = load_model_config("tiny", vocab_size=60, heads=["speech_head", "speech_prenet"])
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))  # as training writes it
    reloaded = from_dict(ModelConfig, yaml.safe_load((tmp_path / "model.yaml").read_text()))  # as loading reads it
    assert reloaded == config and ALPModel(reloaded).heads == ("speech_prenet", "speech_head")
    older = {k: v for k, v in to_dict(config).items() if k != "heads"}  # a model.yaml from before heads existed
    (tmp_path / "older.yaml").write_text(yaml.safe_dump(older))
    assert ALPModel(load_model_config(tmp_path / "older.yaml")).heads == HEADS


def test_presets_sizes_and_cli():
    tiny = sum(part_parameters(ALPModel(load_model_config("tiny", vocab_size=500))).values())
    assert 3e6 < tiny < 10e6
    shown = CliRunner().invoke(app, ["models", "show", "tiny"], terminal_width=200)
    assert shown.exit_code == 0 and f"{tiny:,}" in shown.output and "type=conformer, layers=2" in shown.output
    listed = CliRunner().invoke(app, ["models", "list"], terminal_width=200)
    assert "conformer, transformer" in listed.output and "base, large, tiny" in listed.output


def test_dropout_keeps_each_element_with_probability_1_minus_p_and_scales_it():
    torch.manual_seed(0)
    x = torch.ones(400_000, requires_grad=True)
    y = dropout(x, 0.3)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # the gradient goes through the same mask and scale
    assert dropout(x, 0.3, training=False) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    torch.manual_seed(1)  # masks come from torch's seeded generator: a resumed run draws the same ones
    again = Dropout(0.5)(torch.ones(1000))
    torch.manual_seed(1)
    assert torch.equal(again, Dropout(0.5)(torch.ones(1000)))


def test_batch_norm_statistics_survive_bf16_autocast():
    """Under bf16 the variance of features with a large mean cancels to nothing unless computed in float32."""
    torch.manual_seed(0)
    x = 100 + torch.randn(4, 8, 500)
    mask = torch.ones(4, 500, dtype=torch.bool)
    norm = MaskedBatchNorm(8, momentum=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm(x.bfloat16(), mask)
    assert torch.allclose(norm.running_var, x.bfloat16().float().var(dim=(0, 2)), rtol=0.02)
    assert abs(y.float().std().item() - 1) < 0.02
