"""What a sync costs an atomic write: milliseconds per file, with and without ``sync`` (the file and its directory
flushed to disk before and after the rename), for files the size of one utterance's audio.

Usage: python benchmarks/atomic_write.py [--files 300] [--seconds 3] [--dir .]
Prints figures; asserts nothing. The directory decides the disk measured (a cluster's NFS syncs far slower).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

import numpy as np
import soundfile

from alptk.files import atomic_open


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=3.0, help="audio per file (16 kHz, 16-bit WAV)")
    parser.add_argument("--dir", default=".", help="where to write (a temporary directory inside it)")
    args = parser.parse_args()
    encoded = io.BytesIO()
    soundfile.write(encoded, np.zeros(int(args.seconds * 16000), np.float32), 16000, format="WAV")
    with tempfile.TemporaryDirectory(dir=args.dir) as out:
        for sync in (True, False):
            start = time.perf_counter()
            for index in range(args.files):
                with atomic_open(f"{out}/{sync}{index}.wav", "wb", sync=sync) as f:
                    f.write(encoded.getvalue())
            per_file = (time.perf_counter() - start) / args.files * 1e3
            print(f"sync={sync}: {per_file:.2f} ms per {args.seconds:g} s WAV file ({args.files} files)")


if __name__ == "__main__":
    main()
