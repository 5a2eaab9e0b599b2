"""A program in two files."""
import os

import helper

print(helper.greeting("stage"))
print("from", os.path.basename(os.path.dirname(os.path.abspath(__file__))))
