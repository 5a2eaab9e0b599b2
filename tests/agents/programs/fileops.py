"""Many kinds of file calls under one directory; prints what it sees."""
import glob
import os
import pathlib
import shutil
import sys

top = sys.argv[1]
os.chdir(top)
print("cwd is top:", os.path.samefile(os.getcwd(), top) if os.path.isdir(top) else None)
os.makedirs("a/b/c", exist_ok=True)
os.makedirs("a/b/c", exist_ok=True)
try:
    os.makedirs("a/b")
except FileExistsError:
    print("makedirs: exists")
pathlib.Path("a/b/c/deep.txt").write_text("deep\n")
with open("data.bin", "wb") as f:
    f.write(bytes(range(256)) * 4096)  # 1 MiB: more than one buffer, less than a chunk
with open("data.bin", "rb") as f:
    f.seek(1000)
    print("seek/read:", f.read(4).hex(), f.tell())
    f.seek(-2, os.SEEK_END)
    print("end:", f.read().hex())
print("size:", os.path.getsize("data.bin"), os.stat("data.bin").st_size)
print("exists:", os.path.exists("nope.txt"), os.path.isfile("data.bin"), os.path.isdir("a"), os.path.isdir("data.bin"))
try:
    open("nope.txt")
except FileNotFoundError as e:
    print("missing:", e.errno)
try:
    open("a")
except IsADirectoryError as e:
    print("a dir:", e.errno)
with open("rw.txt", "w+") as f:
    f.write("hello world")
    f.seek(0)
    print("w+:", f.read())
with open("rw.txt", "r+") as f:
    f.write("HELLO")
print("r+:", open("rw.txt").read())
fd = os.open("fd.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"abcdef")
os.close(fd)
fd = os.open("fd.txt", os.O_RDONLY)
os.lseek(fd, 2, os.SEEK_SET)
print("fd:", os.read(fd, 3), os.fstat(fd).st_size)
os.close(fd)
shutil.copy("fd.txt", "a/copy.txt")
shutil.copy2("a/copy.txt", "a/b")
print("copies:", open("a/copy.txt").read(), open("a/b/copy.txt").read())
print("walk:", sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in os.walk("a")))
print("scandir:", sorted((e.name, e.is_dir(), e.is_file()) for e in os.scandir(".")))
print("glob:", sorted(glob.glob("a/**/*.txt", recursive=True)), sorted(str(p) for p in pathlib.Path(".").glob("*.txt")))
os.replace("fd.txt", "a/moved.txt")
shutil.move("a/moved.txt", "moved-back.txt")
os.remove("rw.txt")
try:
    os.rmdir("a")
except OSError as e:
    print("rmdir non-empty:", e.errno)
shutil.rmtree("a")
with open("log.txt", "a") as f:
    print("appended", file=f)
with open("log.txt", "a") as f:
    f.write("again\n")
print("log:", open("log.txt").read().splitlines())
print("final:", sorted(os.listdir(".")))
left_open = open("left-open.txt", "w")  # never closed: saved at exit all the same
left_open.write("not closed\n")
