"""Section 7: peak memory (RSS) of writing the Ollama GGUF, against the model it writes.

A subprocess loads SmolLM2-135M (float32, from the conversion cache; every weight read once) and streams it into a GGUF
with `finetune.export.write_gguf`, as `household models export-ollama` does after merging; a
second one only loads the model (the floor). The target: the write adds at most a quarter of the
model's float32 size, i.e. it never holds a second copy (the export before streaming held the
model, a rounded copy, the writer's F16 copy, a deep copy and a reloaded model: 4.1 GB for 135M).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.memory import peak_of_run
from bench.report import Section
from bench.workspace import Workspace

LOAD = (
    "import sys; from pathlib import Path; from household.models import load_causal_lm; "
    "from household.settings import SMOLLM2_GGUF; model, tok = load_causal_lm(SMOLLM2_GGUF, Path(sys.argv[1])); "
    "sum(float(p.sum()) for p in model.parameters())"  # touch every weight: loaded safetensors are mapped lazily
)
WRITE = LOAD + (
    "; from finetune.export import write_gguf; write_gguf(model, tok, Path(sys.argv[2]), 'f16', 'smollm', 'bench', False)"
)
TARGET_EXTRA = 0.25  # of the model's float32 size


def run(ws: Workspace) -> Section:
    section = Section("export", "7. Ollama export: peak memory of the GGUF write")
    cache, out = ws.settings.cache_dir, ws.root / "bench-export.gguf"
    ws.say("export: peak RSS of loading SmolLM2, then of loading it and writing the GGUF")
    for _ in range(2):  # the first load may convert the GGUF into the cache (once); the second is the floor
        floor, status, _ = peak_of_run(
            [sys.executable, "-c", LOAD, str(cache)], ws.env(), Path.cwd(), ws.root / "load.log"
        )
    peak, status2, seconds = peak_of_run(
        [sys.executable, "-c", WRITE, str(cache), str(out)], ws.env(), Path.cwd(), ws.root / "write.log"
    )
    if status or status2:
        raise RuntimeError(f"export bench subprocess failed: {(ws.root / 'write.log').read_text()[-500:]}")
    model_mib = 2 * out.stat().st_size / 2**20  # F16 on disk: half the float32 model
    section.figures = {
        "load_peak_mib": round(floor), "write_peak_mib": round(peak), "model_f32_mib": round(model_mib),
        "gguf_mib": round(out.stat().st_size / 2**20), "write_seconds": round(seconds, 1),
    }
    section.row("load SmolLM2-135M (float32), the floor", f"{floor:.0f} MiB")
    section.row("load + stream it into an F16 GGUF", f"{peak:.0f} MiB", f"+{peak - floor:.0f} MiB over the floor")
    section.targets[f"the write adds <= {TARGET_EXTRA:.0%} of the float32 model"] = peak - floor <= TARGET_EXTRA * model_mib
    out.unlink(missing_ok=True)
    return section
