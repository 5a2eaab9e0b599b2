#### basic command substitution
echo "[$(echo hi)]"
## stdout:
[hi]

#### backticks
echo "[`echo hi`]"
## stdout:
[hi]

#### trailing newlines stripped
x=$(printf 'a\n\n\n'); echo "[$x]"
## stdout:
[a]

#### inner newlines kept in quotes
x=$(printf 'a\nb'); echo "$x"
## stdout:
a
b

#### nested substitution
echo $(echo $(echo deep))
## stdout:
deep

#### status of substitution
x=$(exit 3); echo $?
## stdout:
3

#### substitution in assignment keeps spaces
x=$(echo 'a   b'); echo "$x"
## stdout:
a   b

#### substitution with pipeline
echo $(printf '3\n1\n2\n' | sort | tr '\n' ' ')
## stdout:
1 2 3

#### substitution with case inside
x=$(case a in a) echo yes;; esac); echo $x
## stdout:
yes

#### substitution with parens in quotes
echo "$(echo ')')"
## stdout:
)

#### subshell variable isolation
x=1; y=$(x=2; echo $x); echo $x $y
## stdout:
1 2

#### backtick escapes
echo `echo \`echo nested\``
## stdout:
nested

#### substitution in double quotes preserves
echo "$(echo '*')"
## stdout:
*

#### arithmetic inside substitution
echo $(echo $((2+3)))
## stdout:
5

#### empty substitution vanishes
set -- a $(true) b; echo $#
## stdout:
2

#### quoted empty substitution
set -- a "$(true)" b; echo $#
## stdout:
3

#### substitution of function output
f() { echo from-f; }; echo "got $(f)"
## stdout:
got from-f

#### stderr not captured
x=$(echo out; echo err >&2); echo "[$x]"
## stdout:
[out]

#### a command of only a command substitution has its status
$(exit 42); echo $?
## stdout:
42

#### words that expand to nothing take the last substitution's status
x=$(exit 3) $(exit 4); echo $?; $(exit 5) $(true); echo $?
## stdout:
3
0

#### empty expansion with no substitution is status zero
false; $empty; echo $?
## stdout:
0

#### $? in an assignment is the previous command's status
g=$(false); r=$?; echo $r; for i in 1; do g=$(exit 4); r=$?; echo $r; done; false; x=$?; echo $x; x=$(exit 3) y=$?; echo $? $y
## stdout:
1
4
1
3 3
