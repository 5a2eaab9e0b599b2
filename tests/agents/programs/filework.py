"""A little bookkeeping over a directory: the usual file calls."""
import json
import os
import pathlib
import sys

top = sys.argv[1]
config = json.load(open(os.path.join(top, "config.json")))
notes = pathlib.Path(top, "notes.txt").read_text()
names = sorted(os.listdir(top))
with open(os.path.join(top, "log.txt"), "a") as log:
    log.write(f"{config['name']}: {len(notes.splitlines())} notes, files {' '.join(names)}\n")
os.rename(os.path.join(top, "notes.txt"), os.path.join(top, "notes.done"))
print(sorted(os.listdir(top)))
