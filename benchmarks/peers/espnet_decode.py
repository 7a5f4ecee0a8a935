"""ESPnet2's side of the peer decoding, run in ESPnet2's environment: builds ``Speech2Text`` once, then decodes each
recording of a wav.scp alone (batch 1, as ``espnet2.bin.asr_inference`` does), timing the calls. Writes OUT/text
(the hypotheses) and OUT/decode.yaml with alptk's names for the figures: utterances, audio_seconds, load_seconds
and decode_seconds (the ``Speech2Text`` calls alone: ESPnet2's feature extraction, encoder and search; reading
the audio files is left out).

    python espnet_decode.py --config exp/config.yaml --model exp/5epoch.pth --wav-scp test100/wav.scp \
        --beam 10 --ctc-weight 0.3 --out decode_beam10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import soundfile
import yaml
from espnet2.bin.asr_inference import Speech2Text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="the training's config.yaml")
    parser.add_argument("--model", required=True, help="the weights (.pth)")
    parser.add_argument("--wav-scp", type=Path, required=True, help="utterance id and wav path per line")
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--ctc-weight", type=float, default=0.3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    start = time.perf_counter()
    speech2text = Speech2Text(
        asr_train_config=args.config,
        asr_model_file=args.model,
        device="cpu",
        beam_size=args.beam,
        ctc_weight=args.ctc_weight,
        lm_weight=0.0,
        penalty=0.0,
        nbest=1,
        maxlenratio=0.0,
        minlenratio=0.0,
    )
    load_seconds = time.perf_counter() - start
    hypotheses, audio_seconds, decode_seconds = [], 0.0, 0.0
    for line in args.wav_scp.read_text().splitlines():
        utt, path = line.split(maxsplit=1)
        samples, rate = soundfile.read(path, dtype="float32")
        audio_seconds += len(samples) / rate
        start = time.perf_counter()
        text = speech2text(samples)[0][0]
        decode_seconds += time.perf_counter() - start
        hypotheses.append(f"{utt} {text}".rstrip())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "text").write_text("\n".join(hypotheses) + "\n")
    info = {
        "utterances": len(hypotheses),
        "audio_seconds": round(audio_seconds, 2),
        "load_seconds": round(load_seconds, 2),
        "decode_seconds": round(decode_seconds, 2),
        "options": {"beam": args.beam, "ctc_weight": args.ctc_weight, "batch": 1},
    }
    (args.out / "decode.yaml").write_text(yaml.safe_dump(info, sort_keys=False))


if __name__ == "__main__":
    main()
