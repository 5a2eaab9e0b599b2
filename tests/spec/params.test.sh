#### default value when unset
unset x; echo ${x-def} ${x:-def}
## stdout:
def def

#### default value when empty
x=; echo "[${x-def}]" "[${x:-def}]"
## stdout:
[] [def]

#### assign default
unset x; echo ${x:=new}; echo $x
## stdout:
new
new

#### assign default keeps value
x=old; echo ${x:=new}; echo $x
## stdout:
old
old

#### alternative value
x=1; unset y; echo "[${x:+alt}]" "[${y:+alt}]"
## stdout:
[alt] []

#### alternative without colon on empty
x=; echo "[${x+set}]" "[${x:+nonempty}]"
## stdout:
[set] []

#### error when unset
unset x; echo ${x:?custom message}; echo not reached
## stdout:
## status: 127
## stderr-contains: custom message

#### error message default
x=; (echo ${x:?}); echo status=$?
## stdout:
status=1
## stderr-contains: parameter null or not set

#### string length
x=hello; echo ${#x}
## stdout:
5

#### length of unset
unset x; echo ${#x}
## stdout:
0

#### remove shortest prefix
x=a/b/c; echo ${x#*/}
## stdout:
b/c

#### remove longest prefix
x=a/b/c; echo ${x##*/}
## stdout:
c

#### remove shortest suffix
x=file.tar.gz; echo ${x%.*}
## stdout:
file.tar

#### remove longest suffix
x=file.tar.gz; echo ${x%%.*}
## stdout:
file

#### prefix pattern with quotes
x='*abc'; echo ${x#'*'}
## stdout:
abc

#### substitute first
x=aaa; echo ${x/a/b}
## stdout:
baa

#### substitute all
x=aaa; echo ${x//a/b}
## stdout:
bbb

#### substitute anchored start
x=abab; echo ${x/#ab/X}
## stdout:
Xab

#### substitute anchored end
x=abab; echo ${x/%ab/X}
## stdout:
abX

#### substitute delete
x=a-b-c; echo ${x//-/}
## stdout:
abc

#### substitute with pattern
x=hello.world; echo ${x//[aeiou]/_}
## stdout:
h_ll_.w_rld

#### uppercase all
x=hello; echo ${x^^}
## stdout:
HELLO

#### uppercase first
x=hello; echo ${x^}
## stdout:
Hello

#### lowercase all
x=HELLO; echo ${x,,}
## stdout:
hello

#### lowercase first
x=HELLO; echo ${x,}
## stdout:
hELLO

#### substring offset
x=abcdef; echo ${x:2}
## stdout:
cdef

#### substring offset length
x=abcdef; echo ${x:1:3}
## stdout:
bcd

#### substring negative offset
x=abcdef; echo ${x: -2}
## stdout:
ef

#### substring negative length
x=abcdef; echo ${x:1:-2}
## stdout:
bcd

#### substring arithmetic
x=abcdef; n=1; echo ${x:n+1:2}
## stdout:
cd

#### braced name followed by text
x=a; echo ${x}b $xb.
## stdout:
ab .

#### special status param
false; echo $?; true; echo $?
## stdout:
1
0

#### dollar hash
set -- a b c; echo $#
## stdout:
3

#### positional slicing
set -- a b c d; echo ${@:2} ; echo ${@:2:2}
## stdout:
b c d
b c

#### array basics
a=(x y z); echo ${a[0]} ${a[2]} ${#a[@]}
## stdout:
x z 3

#### array all elements
a=(x 'y z' w); for e in "${a[@]}"; do echo "[$e]"; done
## stdout:
[x]
[y z]
[w]

#### array element assignment
a=(1 2 3); a[1]=two; echo ${a[@]}
## stdout:
1 two 3

#### array append
a=(1 2); a+=(3 4); echo ${a[@]} ${#a[@]}
## stdout:
1 2 3 4 4

#### array star joined
a=(1 2 3); IFS=,; echo "${a[*]}"
## stdout:
1,2,3

#### array negative index
a=(1 2 3); echo ${a[-1]}
## stdout:
3

#### array element length
a=(abc de); echo ${#a[0]} ${#a[1]}
## stdout:
3 2

#### array index arithmetic
a=(a b c d); i=1; echo ${a[i+1]}
## stdout:
c

#### scalar as array
x=hi; echo ${x[0]} ${#x[@]}
## stdout:
hi 1

#### append to scalar
x=ab; x+=cd; echo $x
## stdout:
abcd

#### default with spaces unquoted splits
unset x; for w in ${x:-a b}; do echo "[$w]"; done
## stdout:
[a]
[b]

#### default with spaces quoted
unset x; for w in "${x:-a b}"; do echo "[$w]"; done
## stdout:
[a b]

#### nested default
unset x y; echo ${x:-${y:-deep}}
## stdout:
deep

#### pattern removal on positional
set -- foo.c bar.c; echo ${@%.c}
## stdout:
foo bar

#### length of positional list
set -- a b c; echo ${#@}
## stdout:
3

#### indirect via eval
name=val; val=42; eval echo \$$name
## stdout:
42

#### dollar dollar is a number
case $$ in [0-9]*) echo num;; esac
## stdout:
num

#### dash flags contain
set -e; case $- in *e*) echo has-e;; esac
## stdout:
has-e

#### unset variable under nounset
set -u; echo ${undefined_var}; echo after
## stdout:
## status: 127
## stderr-contains: unbound variable

#### nounset allows default
set -u; echo ${undefined_var:-ok}
## stdout:
ok

#### assign default to an array element
unset arr; echo ${arr[0]=x} ${arr[1]:=y}; echo ${arr[@]} ${#arr[@]}
## stdout:
x y
x y 2

#### tilde in a default value
HOME=/h; unset u; echo ${u-~:~} ${u:-~/a:~/b} "${u:-~}"
## stdout:
/h:~ /h/a:~/b ~

#### tilde after colons in an assignment's default value
HOME=/h; unset u; x=${u-~:~}; echo $x; x=${u-a:~}; echo $x; x=a${u-~}; echo $x; x="${u-~}"; echo $x
## stdout:
/h:/h
a:/h
a/h
~

#### tilde in a default value given to export
HOME=/h; unset u; export y=${u-~:~}; echo $y
## stdout:
/h:/h

#### star with empty IFS and operators
set -- a b c; IFS=; echo "$*" "${*:-x}" "${*+y}" "${v:-$*}" "${v-"$*"}" "${1+$*}"; x="$*"; echo $x
## stdout:
abc abc y abc abc abc
abc

#### star with IFS colon and operators
set -- a b c; IFS=:; echo "${v:-$*}" "${v-$*}" ${v-$*} "${1+$*}"
## stdout:
a:b:c a:b:c a b c a:b:c

#### declare -a keeps element quoting
declare -a a=(x "y z" "q\"r" \$d 'a\b'); declare -p a
## stdout:
declare -a a=([0]="x" [1]="y z" [2]="q\"r" [3]="\$d" [4]="a\\b")

#### declare -a with subscripts
declare -a c=([2]=x [5]="y y" z); declare -p c
## stdout:
declare -a c=([2]="x" [5]="y y" [6]="z")

#### declare of an array splits and globs like an assignment
x="1 2"; declare d=($x "*"); declare -p d
## stdout:
declare -a d=([0]="1" [1]="2" [2]="*")

#### local and export of arrays
f() { local d=(5 "6 7"); declare -p d; }; f; export e=(1); declare -p e
## stdout:
declare -a d=([0]="5" [1]="6 7")
declare -ax e=([0]="1")

#### declare of a quoted parenthesis string is a string
declare g="(1 2)"; declare -p g; declare -a f="(8 9)"; declare -p f
## stdout:
declare -- g="(1 2)"
declare -a f=([0]="8" [1]="9")

#### declare appends to an array and evaluates integer arrays
declare -a h=(1); declare h+=(2 "3 4"); declare -p h; declare -ai k=(1+1 3*3); declare -p k
## stdout:
declare -a h=([0]="1" [1]="2" [2]="3 4")
declare -ai k=([0]="2" [1]="9")
