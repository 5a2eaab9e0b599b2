#### basic heredoc
cat <<EOF
hello
world
EOF
## stdout:
hello
world

#### heredoc expands variables
x=42; cat <<EOF
x is $x
sum $((1+2))
cmd $(echo sub)
EOF
## stdout:
x is 42
sum 3
cmd sub

#### quoted delimiter no expansion
x=42; cat <<'EOF'
x is $x $(no)
EOF
## stdout:
x is $x $(no)

#### double quoted delimiter
cat <<"END"
$literal
END
## stdout:
$literal

#### strip tabs
cat <<-EOF
	indented
		more
	EOF
## stdout:
indented
more

#### heredoc with backslash
cat <<EOF
a\$b \\ c\d
EOF
## stdout:
a$b \ c\d

#### two heredocs one line
cat <<A; cat <<B
first
A
second
B
## stdout:
first
second

#### heredoc to while
while read l; do echo "[$l]"; done <<EOF
one
two
EOF
## stdout:
[one]
[two]

#### heredoc in function
f() {
  cat <<EOF
in func $1
EOF
}
f arg
## stdout:
in func arg

#### heredoc in pipeline
cat <<EOF | tr a-z A-Z
shout
EOF
## stdout:
SHOUT

#### heredoc then command
cat <<EOF
body
EOF
echo after
## stdout:
body
after

#### heredoc empty body
cat <<EOF
EOF
echo empty-ok
## stdout:
empty-ok

#### heredoc with quotes inside
cat <<EOF
"quoted" 'single'
EOF
## stdout:
"quoted" 'single'

#### escaped delimiter
cat <<\EOF
$x
EOF
## stdout:
$x

#### heredoc with fd
cat 3<<EOF <&3
from three
EOF
## stdout:
from three

#### delimiter with a space in quotes
cat <<"E O"
a $x
E O
## stdout:
a $x

#### delimiter with an escaped letter
x=1; cat <<E\OF
b $x
EOF
## stdout:
b $x

#### delimiter that looks like an expansion is literal, body expanded
x=1; cat <<$x
c $x
$x
## stdout:
c 1

#### quoted delimiter that looks like an expansion
x=1; cat <<"$x"
d $x
$x
## stdout:
d $x

#### delimiter quoted in the middle
x=1; cat <<E"F"G
e $x
EFG
## stdout:
e $x

#### braced expansion as a delimiter
x=1; cat <<${x}y
f $x
${x}y
## stdout:
f 1
