"""Pure-Python builtin agents: cat grep head tail wc sort uniq tee cut tr.

Every runtime can run them (`python -m onesh.coreutils NAME ARGS...`), so a
device without coreutils still runs pipeline stages.  They work on bytes
(LC_ALL=C semantics), follow GNU options and exit statuses, process input
in blocks (flushing after each block read, so a live stream such as a
sensor shows up at once), exit 141 quietly on a closed output (SIGPIPE)
and 130 on SIGINT after writing what they had already processed.
"""

TOOLS = ("cat", "grep", "head", "tail", "wc", "sort", "uniq", "tee", "cut", "tr")
