"""Count the words of a file and write the count into another file."""
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    words = len(f.read().split())
with open(dst, "w", encoding="utf-8") as f:
    f.write(f"{words}\n")
print(f"{src}: {words} words")
