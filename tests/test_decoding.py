"""Speech-to-text search: CTC prefix scores against brute force, beam vs greedy, batching, overfit, n-best."""

from __future__ import annotations

import copy
import itertools
import math
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F

from alptk.inference.search import CTCPrefixScorer, beam_search, greedy_search
from alptk.models.alignment import ctc_align
from alptk.models.model import ALPModel, ModelConfig

START, EOS, VOCAB, D_MODEL = 2, 3, 16, 32
LENGTHS = torch.tensor([12, 9, 6])
TARGETS = [[5, 6, 6, 7, 9], [8, 10, 4, 11], [12, 13, 5]]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: more threads only add overhead (and spin on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model() -> ALPModel:
    torch.manual_seed(0)
    layers = {"type": "transformer", "layers": 1, "heads": 2, "ffn_dim": 64, "dropout": 0.0}
    config = ModelConfig(
        d_model=D_MODEL,
        vocab_size=VOCAB,
        frontend={"type": "fbank", "channels": 16, "dropout": 0.0, "specaugment": None},
        speech_encoder=layers,
        text_encoder=layers,
        decoder={**layers, "layers": 2},
        dropout=0.0,
    )
    return ALPModel(config)


def train(memory: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]], steps: int) -> ALPModel:
    """A tiny model trained on fixed encoder states with CTC + attention cross-entropy (as the s2t objective)."""
    model = tiny_model()
    token_lengths = torch.tensor([len(t) for t in targets])
    padded = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in targets], batch_first=True)
    inputs = F.pad(padded, (1, 0), value=START)
    outputs = F.pad(padded, (0, 1))
    outputs[torch.arange(len(targets)), token_lengths] = EOS
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        ctc = F.ctc_loss(model.ctc_head(memory).transpose(0, 1), padded, lengths, token_lengths)
        logits = model.decode_text(inputs, token_lengths + 1, memory, lengths)
        attention = F.cross_entropy(logits.transpose(1, 2), outputs, ignore_index=0)
        optimizer.zero_grad()
        (ctc + attention).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def memory() -> torch.Tensor:
    """Encoder states for LENGTHS; the padding is random too, so that any leak from it shows."""
    return torch.randn(3, int(LENGTHS.max()), D_MODEL, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def model(memory: torch.Tensor) -> ALPModel:
    """Barely trained: random models only repeat a token; this one hesitates between plausible outputs."""
    return train(memory, LENGTHS, TARGETS, steps=10)


def alignment_outputs(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Probability of each collapsed CTC output, summed over all vocab ** frames alignments."""
    outputs: dict[tuple[int, ...], float] = defaultdict(float)
    probs = log_probs.double().exp().tolist()
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        merged = [c for i, c in enumerate(path) if c != 0 and (i == 0 or c != path[i - 1])]
        outputs[tuple(merged)] += math.prod(probs[t][c] for t, c in enumerate(path))
    return outputs


def best_alignment(log_probs: torch.Tensor, target: list[int]) -> tuple[float, list[int]]:
    """The most probable of all vocab ** frames labellings that collapse to ``target``: its log probability and
    the index of the target token each frame emits (-1 for blank)."""
    best: tuple[float, list[int]] = (-math.inf, [])
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        starts = [c != 0 and (t == 0 or c != path[t - 1]) for t, c in enumerate(path)]
        if [c for c, start in zip(path, starts, strict=True) if start] != target:
            continue
        index = list(itertools.accumulate(starts))  # tokens begun so far
        score = sum(log_probs[t, c].item() for t, c in enumerate(path))
        if score > best[0]:
            best = (score, [n - 1 if c != 0 else -1 for n, c in zip(index, path, strict=True)])
    return best


def test_ctc_forced_alignment_is_the_best_path():
    torch.manual_seed(0)
    log_probs = (1.5 * torch.randn(3, 6, 4)).log_softmax(dim=-1)
    tokens = torch.tensor([[1, 1, 2], [3, 2, 0], [2, 2, 0]])  # a repeat needs a blank between; padding; too short
    lengths, token_lengths = torch.tensor([6, 4, 2]), torch.tensor([3, 2, 2])
    frame_tokens, scores = ctc_align(log_probs, lengths, tokens, token_lengths)
    for u in range(2):
        score, path = best_alignment(log_probs[u, : lengths[u]], tokens[u, : token_lengths[u]].tolist())
        assert scores[u].item() == pytest.approx(score, abs=1e-5)
        assert frame_tokens[u].tolist() == path + [-1] * (6 - len(path))
    assert scores[2] == -math.inf  # [2, 2] needs three frames


def test_ctc_prefix_scores_match_brute_force():
    """psi(h) sums the alignments whose output starts with h, psi(h + </s>) those whose output is exactly h.

    </s> is an ordinary CTC label here (the model's CTC vocabulary has it too; training makes it unlikely), so the
    brute force needs no special case: only the score of the *extension* by </s> means "the output ends here"."""
    torch.manual_seed(0)
    vocab, lengths = 5, torch.tensor([5, 3])  # utterance 1 is padded, with random log-probs beyond its length
    log_probs = (1.5 * torch.randn(2, 5, vocab)).log_softmax(dim=-1)
    outputs = [alignment_outputs(log_probs[u, : lengths[u]]) for u in range(2)]

    def prefix_probability(utt: int, prefix: tuple[int, ...]) -> float:
        return sum(p for out, p in outputs[utt].items() if out[: len(prefix)] == prefix)

    scorer = CTCPrefixScorer(log_probs, lengths, eos=EOS)
    scorer.start(torch.tensor([0, 1]))
    hyps = [(0, ()), (1, ())]
    steps = [  # (parent, token) of each next hypothesis: branch, reorder, repeat a label, outgrow utterance 1
        [],
        [(0, 1), (0, 4), (1, 4), (1, 1)],
        [(3, 1), (1, 4), (0, 4), (2, 2), (2, 4)],
        [(4, 1), (1, 2), (3, 1), (0, 4), (2, 1)],
        [(1, 2), (4, 4), (3, 4)],
    ]
    for step in steps:
        if step:
            scorer.select(torch.tensor([p for p, _ in step]), torch.tensor([c for _, c in step]))
            hyps = [(hyps[p][0], (*hyps[p][1], c)) for p, c in step]
        scores = scorer.score().double().exp()
        for i, (utt, prefix) in enumerate(hyps):
            expected = [prefix_probability(utt, (*prefix, c)) for c in range(vocab)]
            expected[0], expected[EOS] = 0.0, outputs[utt].get(prefix, 0.0)
            assert torch.allclose(scores[i], torch.tensor(expected, dtype=torch.double), rtol=1e-4, atol=1e-7)
            assert scorer.psi[i].exp().item() == pytest.approx(prefix_probability(utt, prefix), rel=1e-4, abs=1e-7)
    assert {h[1] for h in hyps} >= {(4, 4, 2, 2), (1, 1, 4, 4)}  # one possible, one too long for its 3 frames


def joint_score(
    model: ALPModel,
    memory: torch.Tensor,
    tokens: list[int],
    ctc_weight: float,
    lm: ALPModel | None = None,
    lm_weight: float = 0.0,
) -> float:
    """(1 - w) log p_att(tokens, </s>) + w log p_ctc(tokens) [+ lm_weight log p_lm(tokens, </s>)] by teacher forcing
    and torch's CTC loss."""
    with torch.no_grad():
        frames = torch.tensor([len(memory)])
        inputs, targets = torch.tensor([[START, *tokens]]), torch.tensor([*tokens, EOS])
        logits = model.decode_text(inputs, torch.tensor([len(tokens) + 1]), memory[None], frames)[0]
        attention = logits.log_softmax(dim=-1).gather(1, targets[:, None]).sum().item()
        log_probs = model.ctc_head(memory[None]).transpose(0, 1)
        ctc = -F.ctc_loss(log_probs, torch.tensor([tokens]), frames, torch.tensor([len(tokens)]), reduction="sum")
        fused = 0.0
        if lm is not None:
            lm_logits = lm.decode_text(inputs, torch.tensor([len(tokens) + 1]), *lm.no_memory(1))[0]
            fused = lm_weight * lm_logits.log_softmax(dim=-1).gather(1, targets[:, None]).sum().item()
    return (1 - ctc_weight) * attention + (ctc_weight * ctc.item() if ctc_weight else 0.0) + fused


@pytest.mark.parametrize("ctc_weight", [0.0, 0.3, 1.0])
def test_beam_of_one_is_greedy(model: ALPModel, memory: torch.Tensor, ctc_weight: float):
    greedy = greedy_search(model, memory, LENGTHS, START, EOS, ctc_weight=ctc_weight)
    beam = beam_search(model, memory, LENGTHS, START, EOS, beam=1, ctc_weight=ctc_weight)
    assert [[h.tokens] for h in greedy] == [[h.tokens for h in hyps] for hyps in beam]
    assert [h.score for h in greedy] == pytest.approx([hyps[0].score for hyps in beam], abs=1e-5)
    for i, hyp in enumerate(greedy):
        if len(hyp.tokens) < LENGTHS[i]:  # ended with </s>, not at the length limit
            expected = joint_score(model, memory[i, : LENGTHS[i]], hyp.tokens, ctc_weight) / (len(hyp.tokens) + 1)
            assert hyp.score == pytest.approx(expected, abs=1e-4)


def test_batching_is_exact(model: ALPModel, memory: torch.Tensor):
    together = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4)
    for i, length in enumerate(LENGTHS.tolist()):
        alone = beam_search(model, memory[i : i + 1, :length], LENGTHS[i : i + 1], START, EOS, beam=4, nbest=4)[0]
        assert [h.tokens for h in alone] == [h.tokens for h in together[i]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in together[i]], abs=1e-5)


def test_nbest_is_distinct_sorted_and_scored(model: ALPModel, memory: torch.Tensor):
    nbest = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4)
    best = beam_search(model, memory, LENGTHS, START, EOS, beam=4)
    raw = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4, length_normalized=False)
    for i, hyps in enumerate(nbest):
        assert len(hyps) == 4 and len({tuple(h.tokens) for h in hyps}) == 4
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        assert best[i] == hyps[:1]
        for hyp in hyps:  # all ended with </s>: the score is the joint log-probability
            expected = joint_score(model, memory[i, : LENGTHS[i]], hyp.tokens, 0.3)
            assert hyp.score == pytest.approx(expected / (len(hyp.tokens) + 1), abs=1e-4)
        for hyp in raw[i]:
            assert hyp.score == pytest.approx(joint_score(model, memory[i, : LENGTHS[i]], hyp.tokens, 0.3), abs=1e-4)


def test_language_model_fusion(model: ALPModel, memory: torch.Tensor):
    """Shallow fusion adds lm_weight x the LM's log-probability of the hypothesis and </s>, in beam and greedy
    search alike; weight 0 is no LM."""
    lm = train_language_model([[4, 4, 5], [6, 7]], steps=60)
    fused = {"ctc_weight": 0.3, "lm": lm, "lm_weight": 0.8}
    greedy = greedy_search(model, memory, LENGTHS, START, EOS, **fused)
    beam1 = beam_search(model, memory, LENGTHS, START, EOS, beam=1, **fused)
    assert [[h.tokens] for h in greedy] == [[h.tokens for h in hyps] for hyps in beam1]
    plain = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4, length_normalized=False)
    raw = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4, length_normalized=False, **fused)
    assert [[h.tokens for h in hyps] for hyps in raw] != [[h.tokens for h in hyps] for hyps in plain]
    for i, hyps in enumerate(raw):
        for hyp in hyps:
            expected = joint_score(model, memory[i, : LENGTHS[i]], hyp.tokens, 0.3, lm, 0.8)
            assert hyp.score == pytest.approx(expected, abs=1e-4)
    unweighted = beam_search(model, memory, LENGTHS, START, EOS, beam=4, nbest=4, length_normalized=False,
                             ctc_weight=0.3, lm=lm, lm_weight=0.0)  # fmt: skip
    assert [[(h.tokens, round(h.score, 4)) for h in hyps] for hyps in unweighted] == [
        [(h.tokens, round(h.score, 4)) for h in hyps] for hyps in plain
    ]


def train_language_model(sentences: list[list[int]], steps: int) -> ALPModel:
    """A tiny decoder-only language model (the ``lm`` objective's loss) of ``sentences``."""
    model = tiny_model()
    lengths = torch.tensor([len(s) + 1 for s in sentences])
    padded = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in sentences], batch_first=True)
    inputs, targets = F.pad(padded, (1, 0), value=START), F.pad(padded, (0, 1))
    targets[torch.arange(len(sentences)), lengths - 1] = EOS
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        logits = model.decode_text(inputs, lengths, *model.no_memory(len(sentences)))
        loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_overfit_model_decodes_its_targets(memory: torch.Tensor):
    model = train(memory, LENGTHS, TARGETS, steps=100)
    for ctc_weight in (0.0, 0.3, 1.0):
        hyps = beam_search(model, memory, LENGTHS, START, EOS, beam=4, ctc_weight=ctc_weight)
        assert [h[0].tokens for h in hyps] == TARGETS, ctc_weight
    assert [h.tokens for h in greedy_search(model, memory, LENGTHS, START, EOS)] == TARGETS


def test_length_limit(model: ALPModel, memory: torch.Tensor):
    """Without </s>, an utterance stops at max(1, int(ratio * frames)) tokens and returns its live hypotheses; the
    CTC blank never is a text token, however likely the decoder makes it."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.text_head.bias[EOS], model.text_head.bias[0] = -1e4, 1e4
    limits = [2, 1, 1]  # 0.2 * LENGTHS
    beam = beam_search(model, memory, LENGTHS, START, EOS, beam=3, nbest=5, ctc_weight=0.0, max_length_ratio=0.2)
    greedy = greedy_search(model, memory, LENGTHS, START, EOS, ctc_weight=0.0, max_length_ratio=0.2)
    assert [[len(h.tokens) for h in hyps] for hyps in beam] == [[n] * 3 for n in limits]
    assert [len(h.tokens) for h in greedy] == limits
    assert [h.tokens for h in greedy] == [hyps[0].tokens for hyps in beam]
    assert all(0 not in h.tokens for h in [*greedy, *itertools.chain(*beam)])
    with pytest.raises(ValueError, match=r"ctc_weight must be in \[0, 1\], got 1.5"):
        beam_search(model, memory, LENGTHS, START, EOS, ctc_weight=1.5)
