"""JSON decoders on Graph sign-in pages: which one ``connector/jsonio.py`` uses for what.

Usage::

    .venv/bin/python bench/json_parsers.py DATA_DIR        # DATA_DIR from import_bench.py: pages/ and signins.json

Each (decoder, shape) runs in its own process, ``--repeat`` times (median): wall and CPU seconds to decode every
item, and the process's peak RSS. Shapes: ``pages`` (one ~1 MB file per 1,000-item page, decoded whole) and
``array`` (all pages in one JSON array file: decoded whole, or streamed by ijson item by item / page by page).
``orjson`` is measured when installed (it is not a dependency: it turns integers beyond 64 bits into floats
without a word).
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WHOLE = ("json", "msgspec", "orjson")


def _decode(name: str, body: bytes) -> Any:
    if name == "json":
        return json.loads(body)
    if name == "msgspec":
        import msgspec

        return msgspec.json.decode(body)
    import orjson

    return orjson.loads(body)


def one(decoder: str, shape: str, data: Path) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    items = 0
    if shape == "pages":
        for path in sorted((data / "pages").glob("*.json")):
            if decoder == "ijson":
                import ijson

                with path.open("rb") as fh:
                    items += sum(1 for _ in ijson.items(fh, "value.item", use_float=True))
            else:
                items += len(_decode(decoder, path.read_bytes())["value"])
    elif decoder in WHOLE:
        items = sum(len(p["value"]) for p in _decode(decoder, (data / "signins.json").read_bytes()))
    else:
        import ijson

        with (data / "signins.json").open("rb") as fh:
            if decoder == "ijson-items":
                items = sum(1 for _ in ijson.items(fh, "item.value.item", use_float=True))
            else:
                items = sum(len(p["value"]) for p in ijson.items(fh, "item", use_float=True))
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "items": items,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("DECODER", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.data)))
        return
    cases = [(d, "pages") for d in ("json", "msgspec", "orjson", "ijson")]
    cases += [(d, "array") for d in ("json", "msgspec", "orjson", "ijson-items", "ijson-pages")]
    print("| decoder | shape | wall s (median) | cpu s (median) | peak RSS MB | items |")
    print("|---|---|---:|---:|---:|---:|")
    for decoder, shape in cases:
        runs = []
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, str(args.data), "--one", decoder, shape]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 (this script)
            if done.returncode != 0:
                break
            runs.append(json.loads(done.stdout))
        if not runs:
            print(f"| {decoder} | {shape} | not installed | | | |")
            continue
        secs = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        print(f"| {decoder} | {shape} | {secs:.2f} | {cpu:.2f} | {rss:.0f} | {runs[0]['items']:,} |")


if __name__ == "__main__":
    main()
