"""Fill in the expectations of new spec cases from real bash.

    python tests/spec/bless.py tests/spec/NEW.test.sh

Cases that already have `## stdout:` are left alone; a case with only code
gets bash's stdout and (non-zero) status written below it.  Review the diff
before committing: the data is the specification, bash is only the oracle.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import parse_spec, run_case


def bless(path: Path) -> int:
    lines = path.read_text().split("\n")
    cases = parse_spec(path)
    out: list[str] = []
    by_line = {c.line: c for c in cases}
    i = 0
    changed = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if line.startswith("#### "):
            case = by_line[i + 1]
            j = i + 1
            block: list[str] = []
            while j < len(lines) and not lines[j].startswith("#### "):
                block.append(lines[j])
                j += 1
            if any(b.startswith("## stdout") or b.startswith("## STDOUT") or b.startswith("## stdout-json") for b in block):
                out.extend(block)
            else:
                while block and block[-1] == "":
                    block.pop()
                proc = run_case("bash", case)
                code_lines = [b for b in block if not b.startswith("## ")]
                extra = [b for b in block if b.startswith("## ")]
                out.extend(code_lines)
                text = proc.stdout.decode("utf-8", "replace")
                if text and not text.endswith("\n"):
                    import json

                    out.append("## stdout-json: " + json.dumps(text))
                else:
                    out.append("## stdout:")
                    out.extend(text.split("\n")[:-1])
                if proc.returncode:
                    out.append(f"## status: {proc.returncode}")
                out.extend(e for e in extra if not e.startswith("## status"))
                out.append("")
                changed += 1
            i = j
            continue
        i += 1
    path.write_text("\n".join(out).rstrip("\n") + "\n")
    return changed


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, bless(Path(p)), "cases recorded")
