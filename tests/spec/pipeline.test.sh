#### simple pipe
echo hello | tr a-z A-Z
## stdout:
HELLO

#### three stage pipe
printf '3\n1\n2\n' | sort | head -n 2
## stdout:
1
2

#### pipeline status is last
false | true; echo $?
## stdout:
0

#### pipeline status last fails
true | false; echo $?
## stdout:
1

#### pipestatus array
true | false | true; echo "${PIPESTATUS[@]}"
## stdout:
0 1 0

#### pipestatus single
false; echo ${PIPESTATUS[0]}
## stdout:
1

#### pipefail
set -o pipefail; false | true; echo $?
## stdout:
1

#### pipefail rightmost failure
set -o pipefail; (exit 2) | (exit 3) | true; echo $?
## stdout:
3

#### negation
! false; echo $?; ! true; echo $?
## stdout:
0
1

#### command not found status
no_such_command_xyz; echo $?
## stdout:
127
## stderr-contains: command not found

#### not found in pipeline
no_such_command_xyz | cat; echo $?
## stdout:
0
## stderr-contains: command not found

#### not executable
touch ./notexec; ./notexec; echo $?
## stdout:
126

#### directory not executable
mkdir dd; ./dd; echo $?
## stdout:
126

#### builtin in pipeline runs in subshell
x=1; echo 2 | read x; echo $x
## stdout:
1

#### while read from pipe
printf 'a\nb\n' | while read l; do echo "<$l>"; done
## stdout:
<a>
<b>

#### pipe stderr with ampersand
(echo out; echo err >&2) |& sort
## stdout:
err
out

#### killed by signal status
sh -c 'kill -TERM $$'; echo $?
## stdout:
143

#### killed by signal kill
sh -c 'kill -9 $$'; echo $?
## stdout:
137

#### sigpipe status
yes | head -n 1; echo "${PIPESTATUS[0]}"
## stdout:
y
141

#### and or chains
true && echo a || echo b; false && echo c || echo d
## stdout:
a
d

#### or chain short circuits
false || false || echo third
## stdout:
third

#### and chain stops
true && false && echo never; echo $?
## stdout:
1

#### function in pipeline
f() { echo fn; }; f | cat
## stdout:
fn

#### compound in pipeline
{ echo a; echo b; } | wc -l | tr -d ' '
## stdout:
2

#### pipeline into while keeps order
seq 1 5 | while read n; do echo $((n * n)); done
## stdout:
1
4
9
16
25

#### large pipeline data
seq 1 20000 | wc -l | tr -d ' '
## stdout:
20000

#### exit status of subshell
(exit 7); echo $?
## stdout:
7

#### semicolon sequence
echo a; echo b; echo c
## stdout:
a
b
c
