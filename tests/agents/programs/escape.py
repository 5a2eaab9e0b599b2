"""Hand a file to another program."""
import subprocess
import sys

subprocess.run(["cat", sys.argv[1]])
print("done")
