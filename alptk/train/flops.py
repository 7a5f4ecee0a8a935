"""Model FLOPs of training batches, counted for their actual shapes, and GPUs' peak tensor FLOP/s: together, the
model FLOPs utilization (MFU) of a training run.

FLOPs are torch's ``FlopCounterMode`` counts of the matrix products, convolutions and attention that a forward and
backward pass dispatch (2 per multiply-accumulate; elementwise work, norms and losses are not counted), with two
corrections: a grouped (depthwise) convolution's weight gradient, which torch counts ``groups`` times over, and
attention on CPUs, which it does not count. Attention's backward counts twice its forward, without the recomputed
scores of fused kernels, as model FLOPs (rather than hardware FLOPs) do; causal and padded positions count as
computed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count, sdpa_flop_count

if TYPE_CHECKING:
    from alptk.data.datasets import Batch
    from alptk.train.trainer import Trainer

aten = torch.ops.aten

# Dense (no sparsity) bf16/fp16 tensor-core TFLOP/s, by the words of the CUDA device name: the first entry whose
# words are all in the name's. From NVIDIA's datasheets, whose figures "with sparsity" are twice these:
# H100 and H200 (nvidia.com/en-us/data-center/h100/, /h200/): SXM 1,979, PCIe 1,513, NVL 1,671 with sparsity;
# GH200 (/grace-hopper-superchip/): 1,979 with sparsity; A100 (/a100/): 312 (SXM and PCIe); L40S (/l40s/): 362.05;
# L40 (/l40/): 181.05; L4 (/l4/): 121; A40 (/a40/): 149.7; A10 (/products/a10-gpu/): 125.
PEAK_TFLOPS = (
    (("H100", "PCIe"), 756.5),
    (("H100", "NVL"), 835.5),
    (("H100",), 989.4),  # SXM: "NVIDIA H100 80GB HBM3"
    (("H200", "NVL"), 835.5),
    (("H200",), 989.4),
    (("GH200",), 989.4),
    (("A100",), 312.0),
    (("L40S",), 362.05),
    (("L40",), 181.05),
    (("L4",), 121.0),
    (("A40",), 149.7),
    (("A10",), 125.0),
)


def peak_tflops(device_name: str) -> float | None:
    """The peak dense bf16 tensor TFLOP/s of the GPU named ``device_name`` (``torch.cuda.get_device_name``), or
    None for a GPU the table does not know."""
    words = set(re.split(r"[^A-Za-z0-9]+", device_name))
    return next((peak for names, peak in PEAK_TFLOPS if words.issuperset(names)), None)


def convolution_backward_flops(
    grad_out_shape: Sequence[int],
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    bias: Sequence[int] | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
    output_mask: Sequence[bool],
    out_shape: object = None,
) -> int:
    """Each gradient a convolution's backward computes (input, weight) takes as many multiply-adds as its forward
    (``w_shape`` holds the input channels per group: grouped convolutions count right); the bias's, none."""
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def attention_flops(
    query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int], *args, **kwargs
) -> int:
    """The two products of attention, scores = QK^T and scores V."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def attention_backward_flops(
    grad_out_shape: Sequence[int],
    query_shape: Sequence[int],
    key_shape: Sequence[int],
    value_shape: Sequence[int],
    *args,
    **kwargs,
) -> int:
    """The gradients of both products with respect to both of their factors: twice the forward."""
    return 2 * sdpa_flop_count(query_shape, key_shape, value_shape)


FORMULAS = {
    aten.convolution_backward: convolution_backward_flops,
    aten._scaled_dot_product_flash_attention_for_cpu: attention_flops,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: attention_backward_flops,
    aten._scaled_dot_product_flash_attention_backward: attention_backward_flops,
    aten._scaled_dot_product_efficient_attention_backward: attention_backward_flops,
    aten._scaled_dot_product_cudnn_attention_backward: attention_backward_flops,
}


def flop_counter() -> FlopCounterMode:
    """torch's counter with this module's formulas (``get_total_flops()`` after the block it wraps)."""
    return FlopCounterMode(display=False, custom_mapping=FORMULAS)


def training_flops(trainer: Trainer, batches: Iterable[tuple[str, Batch]]) -> int:
    """Model FLOPs of a forward and backward pass of each ``(stream, batch)`` through the trainer's model and
    objectives, as an update runs them (training mode, autocast, DDP) but eagerly, so that compiled layers count
    too. Leaves no trace: gradients, buffers (batch norm statistics) and random number generators are as they were.
    Call it between updates (it drops gradients); with several processes, on every rank with as many batches of the
    same streams, as DDP and batch norm statistics reduce over the ranks."""
    module, device = trainer.module, trainer.runtime.device
    saved = [buffer.clone() for buffer in module.buffers()]
    counter = flop_counter()
    with (
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        torch.compiler.set_stance("force_eager"),
        counter,
    ):
        for stream, batch in batches:
            with trainer.autocast():
                loss, _ = trainer.ddp(stream, batch.to(device))
            loss.backward()
    for parameter in module.parameters():
        parameter.grad = None
    with torch.no_grad():
        for buffer, value in zip(module.buffers(), saved, strict=True):
            buffer.copy_(value)
    return counter.get_total_flops()
