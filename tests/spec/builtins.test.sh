#### read basic
read a b <<< 'one two three'; echo "[$a][$b]"
## stdout:
[one][two three]

#### read REPLY
read <<< 'line here'; echo "$REPLY"
## stdout:
line here

#### read raw keeps backslash
read -r x <<< 'a\b'; echo "$x"
## stdout:
a\b

#### read without raw
read x <<< 'a\b'; echo "$x"
## stdout:
ab

#### read custom IFS
IFS=: read a b c <<< 'x:y:z'; echo $a $b $c
## stdout:
x y z

#### read eof status
read x < /dev/null; echo $?
## stdout:
1

#### read partial last line
printf 'nonl' | { read x; echo "$? [$x]"; }
## stdout:
1 [nonl]

#### read array
read -a arr <<< 'p q r'; echo ${arr[1]} ${#arr[@]}
## stdout:
q 3

#### read n chars
read -n 3 x <<< 'abcdef'; echo $x
## stdout:
abc

#### read delimiter
read -d , x <<< 'a,b'; echo $x
## stdout:
a

#### read leaves rest of input
printf 'l1\nl2\n' | { read a; read b; echo "$a|$b"; }
## stdout:
l1|l2

#### read fewer fields
read a b c <<< 'only'; echo "[$a][$b][$c]"
## stdout:
[only][][]

#### read trims whitespace
read x <<< '   padded   '; echo "[$x]"
## stdout:
[padded]

#### shift
set -- a b c; shift; echo $@; shift 2; echo $#
## stdout:
b c
0

#### shift too many
set -- a; shift 3; echo $?
## stdout:
1

#### set positional
set -- x y; echo $1 $2
## stdout:
x y

#### set dash o pipefail listed
set -o pipefail; set -o | grep pipefail
## stdout:
pipefail       	on

#### set plus o output
set -o errexit; set +o | grep errexit
## stdout:
set -o errexit

#### set x trace
set -x; echo traced
## stdout:
traced
## stderr-contains: + echo traced

#### set e exits
set -e; false; echo not-reached
## stdout:
## status: 1

#### set e in if condition
set -e; if false; then :; fi; echo survived
## stdout:
survived

#### set e with and list
set -e; false && true; echo survived
## stdout:
survived

#### set e with or
set -e; false || true; echo ok
## stdout:
ok

#### set e negation
set -e; ! true; echo survived
## stdout:
survived

#### set e in pipeline middle
set -e; false | true; echo survived
## stdout:
survived

#### set e function
set -e; f() { false; echo in-f; }; f; echo after
## stdout:
## status: 1

#### set e subshell
set -e; (false); echo after
## stdout:
## status: 1

#### set plus e
set -e; set +e; false; echo continues
## stdout:
continues

#### export to child
export EXV=exported; sh -c 'echo $EXV'
## stdout:
exported

#### not exported not visible
NV=local; sh -c 'echo "[$NV]"'
## stdout:
[]

#### export after assign
V=1; export V; sh -c 'echo $V'
## stdout:
1

#### prefix assignment to external
V=pre sh -c 'echo $V'; echo "[${V-unset}]"
## stdout:
pre
[unset]

#### export n
export V=1; export -n V; sh -c 'echo "[$V]"'
## stdout:
[]

#### unset variable
x=1; unset x; echo "[${x-unset}]"
## stdout:
[unset]

#### readonly
readonly R=1; R=2; echo $R
## stdout:
## status: 1
## stderr-contains: readonly

#### cd and pwd
mkdir -p a/b; cd a/b; pwd | sed 's|.*/a/b$|ok|'
## stdout:
ok

#### cd dash
mkdir x; cd x; cd - >/dev/null; [ "$(basename "$PWD")" != x ] && echo back
## stdout:
back

#### cd missing
cd /nonexistent-xyz; echo $?
## stdout:
1
## stderr-contains: No such file or directory

#### cd sets OLDPWD
mkdir q; old=$PWD; cd q; [ "$OLDPWD" = "$old" ] && echo oldpwd-set
## stdout:
oldpwd-set

#### cd home
HOME=/tmp; cd; pwd
## stdout:
/tmp

#### eval
eval 'x=5; echo $x'
## stdout:
5

#### eval with quotes
cmd='echo "a  b"'; eval "$cmd"
## stdout:
a  b

#### eval status
eval false; echo $?
## stdout:
1

#### source file
echo 'SV=sourced; echo in-file' > s.sh; . ./s.sh; echo $SV
## stdout:
in-file
sourced

#### source with args
echo 'echo "args: $@"' > s.sh; source ./s.sh one two
## stdout:
args: one two

#### source return
printf 'echo before\nreturn 4\necho after\n' > s.sh; . ./s.sh; echo $?
## stdout:
before
4

#### type builtin
type cd
## stdout:
cd is a shell builtin

#### type function
f() { :; }; type -t f
## stdout:
function

#### type keyword
type -t if
## stdout:
keyword

#### type not found
type no_such_cmd_xyz; echo $?
## stdout:
1
## stderr-contains: not found

#### command v
command -v cd; command -v no_such_cmd_xyz; echo $?
## stdout:
cd
1

#### command bypasses function
echo() { printf 'func\n'; }; command echo builtin
## stdout:
builtin

#### true false colon
true; echo $?; false; echo $?; :; echo $?
## stdout:
0
1
0

#### umask set and get
umask 027; umask
## stdout:
0027

#### umask symbolic
umask 022; umask -S
## stdout:
u=rwx,g=rx,o=rx

#### declare integer
declare -i n=2+3; echo $n
## stdout:
5

#### declare array print
declare -a arr=(a b); echo ${arr[1]}
## stdout:
b

#### local outside function
local x=1; echo $?
## stdout:
1
## stderr-contains: can only be used in a function

#### alias definition listing
alias ll='ls -l'; alias ll
## stdout:
alias ll='ls -l'

#### unalias
alias zz=echo; unalias zz; alias zz; echo $?
## stdout:
1

#### help lists builtins
help cd | head -n 1 | grep -q '^cd' && echo has-help
## stdout:
has-help

#### exit non numeric
exit abc
## stdout:
## status: 2
## stderr-contains: numeric argument required

#### return outside function
return 1; echo $?
## stdout:
2

#### break outside loop
break; echo after-break
## stdout:
after-break

#### kill list signal name
kill -l 15
## stdout:
TERM

#### kill nonexistent pid
kill 999999; echo $?
## stdout:
1

#### cd into a missing directory and back out fails
cd /nonexistent/..; echo $?; pwd | grep -c onesh-spec
## stdout:
1
1

#### cd through an existing directory and back
mkdir -p d/e; cd d/e/../..; echo $?; cd /tmp/../usr; pwd
## stdout:
0
/usr

#### printf -v with an invalid name is status 2
printf -v 1x %s a; echo $?
## stdout:
2

#### printf time format with an epoch argument
TZ=UTC printf '%(%Y-%m-%d %H:%M)T\n' 3600; TZ=UTC printf '[%(%H)T]\n' 0
## stdout:
1970-01-01 01:00
[00]

#### getopts over the positional parameters
set -- -a -b val -cfoo -de x y; while getopts ab:c:de opt; do echo "$opt ${OPTARG-unset} $OPTIND"; done; echo "end $opt $OPTIND"; shift $((OPTIND-1)); echo "$@"
## stdout:
a unset 2
b val 4
c foo 5
d unset 5
e unset 6
end ? 6
x y

#### getopts silent mode reports the letter
while getopts :ab: o -x -b; do echo "$o ${OPTARG-u} $OPTIND"; done; echo $?
## stdout:
? x 2
: b 3
0

#### getopts noisy mode
while getopts ab: o -x -b; do echo "$o ${OPTARG-u} $OPTIND"; done 2>/dev/null; echo $?
## stdout:
? u 2
? u 3
0

#### getopts in a function with a local OPTIND, and --
f() { local OPTIND=1 o; while getopts v o "$@"; do echo f$o; done; }; f -v -v; f -v; getopts a o -- -a; echo $? $OPTIND $o
## stdout:
fv
fv
fv
1 2 ?

#### assigning OPTIND restarts getopts
OPTIND=1; getopts abc o -abc; echo $o $OPTIND; OPTIND=1; getopts abc o -xa 2>/dev/null; echo $o $OPTIND; getopts abc o -xa; echo $o $OPTIND; getopts abc o -xa; echo $? $o $OPTIND
## stdout:
a 1
? 1
a 2
1 ? 2

#### getopts usage errors
getopts; echo $?; getopts a 1x; echo $?
## stdout:
2
1
