"""Print the lines of stdin that contain a word, upper-cased, numbered."""
import sys

word = sys.argv[1]
n = 0
for line in sys.stdin:
    if word in line:
        n += 1
        print(f"{n}: {line.rstrip().upper()}")
print(f"{n} matching", file=sys.stderr)
