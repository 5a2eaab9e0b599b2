#### unquoted variable splits on spaces
x='a b  c'; for w in $x; do echo "[$w]"; done
## stdout:
[a]
[b]
[c]

#### quoted variable does not split
x='a b  c'; for w in "$x"; do echo "[$w]"; done
## stdout:
[a b  c]

#### custom IFS colon
IFS=:; x='a:b::c'; for w in $x; do echo "[$w]"; done
## stdout:
[a]
[b]
[]
[c]

#### IFS with whitespace and colon
IFS=' :'; x=' a : b  c:'; for w in $x; do echo "[$w]"; done
## stdout:
[a]
[b]
[c]

#### empty IFS no splitting
IFS=; x='a b'; for w in $x; do echo "[$w]"; done
## stdout:
[a b]

#### unset IFS default splitting
unset IFS; x=$'a\tb\nc d'; for w in $x; do echo "[$w]"; done
## stdout:
[a]
[b]
[c]
[d]

#### empty unquoted expansion vanishes
e=; set -- a $e b; echo $#
## stdout:
2

#### quoted empty expansion stays
e=; set -- a "$e" b; echo $#
## stdout:
3

#### at in quotes preserves args
set -- 'a b' c; for w in "$@"; do echo "[$w]"; done
## stdout:
[a b]
[c]

#### star in quotes joins with space
set -- 'a b' c; for w in "$*"; do echo "[$w]"; done
## stdout:
[a b c]

#### star joins with first IFS char
set -- a b c; IFS=-; echo "$*"
## stdout:
a-b-c

#### unquoted at splits
set -- 'a b' c; for w in $@; do echo "[$w]"; done
## stdout:
[a]
[b]
[c]

#### at with prefix and suffix
set -- a b c; for w in "x$@y"; do echo "[$w]"; done
## stdout:
[xa]
[b]
[cy]

#### empty at vanishes
set --; for w in "$@"; do echo "[$w]"; done; echo done
## stdout:
done

#### at count
set -- 1 2 3 4; echo $#
## stdout:
4

#### splitting command substitution
for w in $(echo 'one two'; echo three); do echo "[$w]"; done
## stdout:
[one]
[two]
[three]

#### leading and trailing whitespace trimmed
x='  a  '; echo "[$x]" [$x]
## stdout:
[  a  ] [ a ]

#### expansion next to literal joins
x='a b'; for w in pre$x; do echo "[$w]"; done
## stdout:
[prea]
[b]

#### IFS non-whitespace empty fields
IFS=,; x='a,,b,'; set -- $x; echo $#; for w in "$@"; do echo "[$w]"; done
## stdout:
3
[a]
[]
[b]

#### assignment is not split
x='a   b'; y=$x; echo "$y"
## stdout:
a   b

#### positional beyond nine
set -- 1 2 3 4 5 6 7 8 9 10 11; echo ${10} ${11} $10
## stdout:
10 11 10

#### numeric positional
f() { echo "$1-$2-$3"; }; f a b
## stdout:
a-b-
