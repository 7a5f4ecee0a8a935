"""CTC forced alignment: which frames each token of a known transcript takes (for durations, timings, windows)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alptk.data.tokenizer import BLANK_ID as BLANK  # the CTC blank, never a text token
from alptk.models.layers import padding_mask

NEG_INF = float("-inf")


@torch.no_grad()
def ctc_align(
    log_probs: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor, token_lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC forced alignment (Viterbi), batched over utterances: the single most probable frame labelling that
    collapses to ``tokens``. ``log_probs`` (batch, frames, vocab), ``tokens`` (batch, tokens) padded. Returns the
    index of the token each frame emits, -1 for blank and padded frames (batch, frames), and the path's log
    probability (-inf where the utterance has too few frames for its tokens)."""
    batch, frames, _ = log_probs.shape
    states = 2 * tokens.shape[1] + 1  # blank, token 0, blank, token 1, ..., blank
    labels = tokens.new_full((batch, states), BLANK)
    labels[:, 1::2] = tokens
    emissions = log_probs.float().gather(2, labels[:, None, :].expand(-1, frames, -1))
    reachable = torch.arange(states, device=tokens.device)[None, :] < 2 * token_lengths[:, None] + 1
    skips = (labels != BLANK) & (labels != F.pad(labels, (2, 0), value=BLANK)[:, :-2])  # from two states back
    score = torch.full((batch, states), NEG_INF, device=log_probs.device)
    score[:, :2] = emissions[:, 0, :2]
    score = score.masked_fill(~reachable, NEG_INF)
    moves = torch.zeros(batch, frames, states, dtype=torch.long, device=log_probs.device)  # 0, 1 or 2 states back
    for t in range(1, frames):
        candidates = torch.stack(
            [
                score,
                F.pad(score[:, :-1], (1, 0), value=NEG_INF),
                F.pad(score[:, :-2], (2, 0), value=NEG_INF).masked_fill(~skips, NEG_INF),
            ],
            dim=-1,
        )
        best, move = candidates.max(dim=-1)
        active = (t < lengths)[:, None]
        score = torch.where(active, (best + emissions[:, t]).masked_fill(~reachable, NEG_INF), score)
        moves[:, t] = torch.where(active, move, 0)
    rows = torch.arange(batch, device=tokens.device)
    last_blank = 2 * token_lengths
    last_token = (last_blank - 1).clamp(min=0)
    state = torch.where(score[rows, last_blank] >= score[rows, last_token], last_blank, last_token)
    path_score = score[rows, state]
    path = torch.empty(batch, frames, dtype=torch.long, device=log_probs.device)
    for t in range(frames - 1, -1, -1):
        path[:, t] = state
        state = state - moves[rows, t, state]
    frame_tokens = torch.where(path % 2 == 1, (path - 1) // 2, -1)
    return frame_tokens.masked_fill(~padding_mask(lengths, frames), -1), path_score
