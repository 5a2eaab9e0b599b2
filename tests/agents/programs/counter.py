"""Print a number a second, forever."""
import time

n = 0
while True:
    print(n, flush=False)
    n += 1
    time.sleep(1)
