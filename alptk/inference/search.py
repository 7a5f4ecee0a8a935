"""Search: joint CTC/attention beam search and greedy search (Watanabe et al., 2017), with a language model fused
in (shallow fusion).

Every hypothesis begins with a start token (``<s>``, or a language tag for translation) that the returned tokens
leave out; ``</s>`` ends it. The CTC part scores prefixes with :class:`CTCPrefixScorer`, so the joint score of a
finished hypothesis is ``(1 - ctc_weight) * log p_att(y, </s>) + ctc_weight * log p_ctc(y)``, plus
``lm_weight * log p_lm(y, </s>)`` with a language model fused in. Decode with the model in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alptk.errors import ConfigError
from alptk.models.alignment import BLANK, NEG_INF
from alptk.models.decoder import DecoderCache
from alptk.models.model import ALPModel


@dataclass
class Hypothesis:
    tokens: list[int]  # without the start token and without </s>
    score: float  # joint log-probability, divided by len(tokens) + 1 when length-normalized


class CTCPrefixScorer:
    """CTC prefix probabilities (Watanabe et al., 2017), batched over hypotheses and vectorized over the vocabulary.

    For hypothesis ``h`` it keeps the log forward variables ``rn[t]`` and ``rb[t]``: the probability that frames
    ``0..t`` collapse to ``h`` and end in a label or in a blank; and its prefix score ``psi``: the probability that
    the whole utterance's output starts with ``h``. Hypotheses all have the same length and refer to an utterance
    of ``log_probs`` each. Frames beyond an utterance's length are padded with certain blanks, which changes nothing.
    """

    def __init__(self, log_probs: torch.Tensor, lengths: torch.Tensor, eos: int, blank: int = BLANK):
        """``log_probs`` (utterances, frames, vocab) and the utterances' frame counts."""
        padding = torch.arange(log_probs.shape[1], device=log_probs.device)[None, :] >= lengths[:, None]
        self.x = log_probs.float().masked_fill(padding[..., None], NEG_INF)
        self.x[..., blank].masked_fill_(padding, 0.0)
        self.probs = self.x.double().exp()  # for the sums over frames, done as matrix products
        self.blank, self.eos = blank, eos

    def start(self, utterances: torch.Tensor) -> None:
        """One empty prefix for each entry of ``utterances`` (an utterance index)."""
        self._set_utterances(utterances)
        self.length = 0
        self.rb = self.x[utterances, :, self.blank].cumsum(dim=1)
        self.rn = torch.full_like(self.rb, NEG_INF)
        self.psi = torch.zeros(len(utterances), device=self.x.device)
        self.last = torch.full_like(utterances, -1)

    def _previous(self, phi: torch.Tensor) -> torch.Tensor:
        """``phi[t - 1]`` for the frames ``t >= length`` where a label can follow the prefix (``phi[-1]`` is 1
        for the empty prefix, else 0)."""
        first = phi.new_full((phi.shape[0], 1), 0.0 if self.length == 0 else NEG_INF)
        return torch.cat([first, phi[:, :-1]], dim=1)[:, self.length :]

    def score(self) -> torch.Tensor:
        """``psi(h + c)`` for every hypothesis and token (hypotheses, vocab); for ``eos`` the probability that the
        output is exactly ``h``, for blank 0 (log -inf)."""
        total = torch.logaddexp(self.rn, self.rb)
        psi = self._sum_over_frames(self._previous(total))
        if self.length:  # repeating the last label needs a blank in between
            frames = torch.arange(self.length, self.x.shape[1], device=self.x.device)
            x_last = self.x[self.utterances[:, None], frames[None, :], self.last[:, None]]
            psi.scatter_(1, self.last[:, None], torch.logsumexp(self._previous(self.rb) + x_last, dim=1)[:, None])
        psi[:, self.blank] = NEG_INF
        psi[:, self.eos] = total[:, -1]
        return psi

    def select(self, hypotheses: torch.Tensor, tokens: torch.Tensor) -> None:
        """Replace the hypotheses by ``h[hypotheses[i]] + tokens[i]`` (a beam step: reorder, prune, extend)."""
        utterances, length = self.utterances[hypotheses], self.length
        rn, rb = self.rn[hypotheses], self.rb[hypotheses]
        phi = torch.where((tokens == self.last[hypotheses])[:, None], rb, torch.logaddexp(rn, rb))
        previous = self._previous(phi)
        frames = torch.arange(length, self.x.shape[1], device=self.x.device)
        xc = self.x[utterances[:, None], frames[None, :], tokens[:, None]]
        xb = self.x[utterances, length:, self.blank]
        self.rn, self.rb = torch.full_like(rn, NEG_INF), torch.full_like(rb, NEG_INF)
        rn_t = rb_t = xb.new_full((len(tokens),), NEG_INF)
        for t in range(xb.shape[1]):  # the recursion over frames, for the kept hypotheses only
            rn_t, rb_t = torch.logaddexp(rn_t, previous[:, t]) + xc[:, t], torch.logaddexp(rn_t, rb_t) + xb[:, t]
            self.rn[:, length + t], self.rb[:, length + t] = rn_t, rb_t
        self.psi = torch.logsumexp(previous + xc, dim=1)
        self._set_utterances(utterances)
        self.last, self.length = tokens, length + 1

    def _set_utterances(self, utterances: torch.Tensor) -> None:
        """Hypotheses' utterances, and the size of the runs of equal ones they come in (a beam's), else 1."""
        self.utterances, self.run = utterances, 1
        if len(utterances):
            run = len(utterances) // len(torch.unique_consecutive(utterances))
            groups = utterances.view(-1, run) if len(utterances) % run == 0 else None
            if groups is not None and bool((groups == groups[:, :1]).all()):
                self.run = run

    def _sum_over_frames(self, phi: torch.Tensor) -> torch.Tensor:
        """``log sum_t exp(phi[h, t] + x[h, length + t, c])`` (hypotheses, vocab), in probability space: one
        float64 matrix product per run of hypotheses sharing an utterance, instead of an exp per (hypothesis,
        frame, token). Sums below e^-745 times the largest term of ``phi`` underflow to -inf: such extensions
        lose to any other by hundreds of nats."""
        scale = phi.amax(dim=1, keepdim=True)
        scale = torch.where(scale.isfinite(), scale, 0.0)
        weights = (phi - scale).double().exp().view(-1, self.run, phi.shape[1])
        probs = self.probs[:, self.length :][self.utterances[:: self.run]]  # (runs, frames, vocab)
        return torch.bmm(weights, probs).view(len(phi), -1).log().float() + scale


class LMScorer:
    """Shallow fusion: a language model (an ``lm`` experiment: the decoder reading no encoder) adds ``weight``
    times its next-token log-probability to every extension, ``</s>`` included. Batched over hypotheses like the
    search's own decoder, with its own cache."""

    def __init__(self, model: ALPModel, weight: float):
        self.model, self.weight = model, weight
        self.cache = model.decoder.new_cache()

    def score(self, tokens: torch.Tensor) -> torch.Tensor:
        """``weight * log p_lm(c | tokens)`` (hypotheses, vocab); the LM sees only the last token, like the
        decoder."""
        memory, memory_lengths = self.model.no_memory(len(tokens))
        logits = self.model.decode_text(tokens[:, -1:], None, memory, memory_lengths, self.cache)[:, -1]
        return self.weight * logits.float().log_softmax(dim=-1)

    def reorder(self, index: torch.Tensor) -> None:
        self.cache.reorder(index)


def _max_lengths(memory_lengths: torch.Tensor, ratio: float) -> list[int]:
    return [max(1, int(ratio * n)) for n in memory_lengths.tolist()]


def usable_ctc_weight(model: ALPModel, ctc_weight: float) -> float:
    """``ctc_weight``, or 0 for a model built without a CTC head (which then cannot decode by CTC alone)."""
    if not 0 <= ctc_weight <= 1:
        raise ValueError(f"ctc_weight must be in [0, 1], got {ctc_weight}")
    if model.has_head("ctc_head"):
        return ctc_weight
    if ctc_weight == 1:
        raise ConfigError("ctc_weight 1 decodes by CTC alone, but this model has no CTC head")
    return 0.0


def _ctc_scorer(
    model: ALPModel, memory: torch.Tensor, memory_lengths: torch.Tensor, eos: int, ctc_weight: float
) -> tuple[float, CTCPrefixScorer | None]:
    """The CTC weight the model allows (:func:`usable_ctc_weight`) and its prefix scorer (None at weight 0)."""
    ctc_weight = usable_ctc_weight(model, ctc_weight)
    scorer = CTCPrefixScorer(model.ctc_head(memory), memory_lengths, eos=eos) if ctc_weight > 0 else None
    return ctc_weight, scorer


def _lm_scorer(lm: ALPModel | None, weight: float) -> LMScorer | None:
    return LMScorer(lm, weight) if lm is not None and weight > 0 else None


def _next_scores(
    model: ALPModel,
    tokens: torch.Tensor,
    memory: torch.Tensor,
    memory_lengths: torch.Tensor,
    scorer: CTCPrefixScorer | None,
    ctc_weight: float,
    cache: DecoderCache,
    lm: LMScorer | None,
) -> torch.Tensor:
    """Joint score gain (hypotheses, vocab) of every next token after ``tokens`` (start token included); the
    decoder sees only the last token, the earlier ones being in ``cache``."""
    scores = torch.zeros((), device=memory.device)
    if ctc_weight < 1:
        logits = model.decode_text(tokens[:, -1:], None, memory, memory_lengths, cache)[:, -1]
        scores = (1 - ctc_weight) * logits.float().log_softmax(dim=-1)
    if scorer is not None:
        psi = scorer.psi[:, None]
        scores = scores + ctc_weight * torch.where(psi > NEG_INF, scorer.score() - psi, NEG_INF)
    if lm is not None:
        scores = scores + lm.score(tokens)
    scores[:, BLANK] = NEG_INF
    return scores


def _hypothesis(tokens: list[int], score: float, length_normalized: bool) -> Hypothesis:
    return Hypothesis(tokens, score / (len(tokens) + 1) if length_normalized else score)


@torch.inference_mode()
def beam_search(
    model: ALPModel,
    memory: torch.Tensor,
    memory_lengths: torch.Tensor,
    start: int,
    eos: int,
    beam: int = 10,
    ctc_weight: float = 0.3,
    nbest: int = 1,
    max_length_ratio: float = 1.0,
    length_normalized: bool = True,
    lm: ALPModel | None = None,
    lm_weight: float = 0.3,
) -> list[list[Hypothesis]]:
    """Joint CTC/attention beam search over a batch of encoder memories (batch, frames, d_model).

    All live hypotheses of all unfinished utterances go through the decoder together. Each step keeps the best
    ``beam`` extensions that do not end; those ending (``eos``) among the best ``beam`` are finished. An utterance
    stops with ``beam`` finished hypotheses or at ``max(1, int(max_length_ratio * frames))`` tokens, where its live
    hypotheses count as finished if none is. ``lm`` adds ``lm_weight`` times a language model's log-probabilities
    (shallow fusion). Returns the ``nbest`` best finished hypotheses of each utterance.
    """
    batch, device = memory.shape[0], memory.device
    max_lengths = _max_lengths(memory_lengths, max_length_ratio)
    ctc_weight, scorer = _ctc_scorer(model, memory, memory_lengths, eos, ctc_weight)
    utterances = torch.arange(batch, device=device)  # the unfinished ones
    rows = utterances.repeat_interleave(beam)  # the utterance of each live hypothesis
    memory_rows, memory_lengths_rows = memory[rows], memory_lengths[rows]
    tokens = torch.full((batch * beam, 1), start, device=device)
    scores = torch.full((batch, beam), NEG_INF, device=device)
    scores[:, 0] = 0.0  # one live hypothesis to begin with: the others would duplicate it
    scores = scores.flatten()
    if scorer is not None:
        scorer.start(rows)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    cache, lm_scorer = model.decoder.new_cache(), _lm_scorer(lm, lm_weight)
    for length in range(max(max_lengths)):
        active = len(utterances)
        step = _next_scores(model, tokens, memory_rows, memory_lengths_rows, scorer, ctc_weight, cache, lm_scorer)
        vocab = step.shape[1]
        top_scores, top = (scores[:, None] + step).view(active, beam * vocab).topk(2 * beam, dim=1)
        source = top // vocab + torch.arange(active, device=device)[:, None] * beam
        token = top % vocab
        ends = token == eos  # at most one per live hypothesis: `beam` others are always among the best 2 * beam
        ended = ends[:, :beam] & top_scores[:, :beam].isfinite()
        for u, seq, score in zip(
            utterances[ended.nonzero()[:, 0]].tolist(),
            tokens[source[:, :beam][ended], 1:].tolist(),
            top_scores[:, :beam][ended].tolist(),
            strict=True,
        ):
            finished[u].append(_hypothesis(seq, score, length_normalized))
        live = ~ends & ((~ends).cumsum(dim=1) <= beam)
        source, scores = source[live], top_scores[live]  # (active * beam,)
        tokens = torch.cat([tokens[source], token[live][:, None]], dim=1)

        keep, alive = [], scores.view(active, beam).isfinite().any(dim=1).tolist()
        for a, u in enumerate(utterances.tolist()):
            if len(finished[u]) < beam and length + 1 < max_lengths[u] and alive[a]:
                keep.append(a)
            elif not finished[u]:
                rows_a = slice(a * beam, (a + 1) * beam)
                for seq, score in zip(tokens[rows_a, 1:].tolist(), scores[rows_a].tolist(), strict=True):
                    finished[u].append(_hypothesis(seq, score, length_normalized))
        if not keep:
            break
        if len(keep) < active:
            kept = torch.tensor(keep, device=device)
            index = (kept[:, None] * beam + torch.arange(beam, device=device)).flatten()
            source, tokens, scores, utterances = source[index], tokens[index], scores[index], utterances[kept]
            rows = utterances.repeat_interleave(beam)
            memory_rows, memory_lengths_rows = memory[rows], memory_lengths[rows]
        cache.reorder(source)
        if lm_scorer is not None:
            lm_scorer.reorder(source)
        if scorer is not None:
            scorer.select(source, tokens[:, -1])
    return [_best(hyps, nbest) for hyps in finished]


def _best(hypotheses: list[Hypothesis], nbest: int) -> list[Hypothesis]:
    """The ``nbest`` best distinct token sequences, best first."""
    best, seen = [], set()
    for hyp in sorted(hypotheses, key=lambda h: h.score, reverse=True):
        if tuple(hyp.tokens) not in seen:
            seen.add(tuple(hyp.tokens))
            best.append(hyp)
    return best[:nbest]


@torch.inference_mode()
def greedy_search(
    model: ALPModel,
    memory: torch.Tensor,
    memory_lengths: torch.Tensor,
    start: int,
    eos: int,
    ctc_weight: float = 0.3,
    max_length_ratio: float = 1.0,
    length_normalized: bool = True,
    lm: ALPModel | None = None,
    lm_weight: float = 0.3,
) -> list[Hypothesis]:
    """The best next token at each step under the joint score of :func:`beam_search`, for a batch of memories."""
    batch, device = memory.shape[0], memory.device
    max_lengths = torch.tensor(_max_lengths(memory_lengths, max_length_ratio), device=device)
    ctc_weight, scorer = _ctc_scorer(model, memory, memory_lengths, eos, ctc_weight)
    everyone = torch.arange(batch, device=device)
    if scorer is not None:
        scorer.start(everyone)
    tokens = torch.full((batch, 1), start, device=device)
    scores, lengths = torch.zeros(batch, device=device), torch.zeros_like(everyone)
    running = torch.ones(batch, dtype=torch.bool, device=device)
    cache, lm_scorer = model.decoder.new_cache(), _lm_scorer(lm, lm_weight)
    for _ in range(int(max_lengths.max())):
        step = _next_scores(model, tokens, memory, memory_lengths, scorer, ctc_weight, cache, lm_scorer)
        best, token = step.max(dim=-1)
        scores = torch.where(running, scores + best, scores)
        running &= token != eos
        lengths += running
        running &= lengths < max_lengths
        tokens = torch.cat([tokens, token[:, None]], dim=1)
        if not running.any():
            break
        if scorer is not None:
            scorer.select(everyone, token)
    return [
        _hypothesis(seq[1 : n + 1], score, length_normalized)
        for seq, n, score in zip(tokens.tolist(), lengths.tolist(), scores.tolist(), strict=True)
    ]
