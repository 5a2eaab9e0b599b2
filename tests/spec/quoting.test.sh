#### single quotes keep dollar
echo '$HOME is not expanded'
## stdout:
$HOME is not expanded

#### double quotes expand
x=world; echo "hello $x"
## stdout:
hello world

#### backslash escapes space
echo a\ b
## stdout:
a b

#### backslash in double quotes
echo "a\$b \"q\" \\ \z"
## stdout:
a$b "q" \ \z

#### adjacent quoting concatenates
echo 'a'"b"c\d
## stdout:
abcd

#### empty quotes make an argument
set -- '' ""; echo $#
## stdout:
2

#### single quote inside double
echo "it's"
## stdout:
it's

#### double quote inside single
echo 'say "hi"'
## stdout:
say "hi"

#### ansi c quoting
echo $'tab\there' $'nl\nx'
## stdout:
tab	here nl
x

#### ansi c hex and octal
echo $'\x41\102\u0043'
## stdout:
ABC

#### ansi c escaped quote
echo $'it\'s'
## stdout:
it's

#### dollar at end is literal
echo foo$
## stdout:
foo$

#### dollar before space literal
echo $ x
## stdout:
$ x

#### quoted newline in double quotes
echo "a
b"
## stdout:
a
b

#### backslash newline continuation
echo one \
two
## stdout:
one two

#### hash inside word is not a comment
echo a#b
## stdout:
a#b

#### comment after space
echo a # comment here
## stdout:
a

#### quoted hash
echo '#not' "#comment"
## stdout:
#not #comment

#### escaped dollar in double quotes
x=1; echo "\$x=$x"
## stdout:
$x=1

#### single quote preserves backslash
echo 'a\nb'
## stdout:
a\nb

#### dollar double quote
echo $"plain"
## stdout:
plain

#### nested quotes in command substitution
echo "$(echo "inner 'q'")"
## stdout:
inner 'q'

#### glob chars quoted
echo "*" '?' \[
## stdout:
* ? [

#### tilde quoted not expanded
HOME=/h; echo "~" '~' \~
## stdout:
~ ~ ~

#### empty string argument counted
f() { echo $#; }; f "" a ""
## stdout:
3

#### backslash at end of double quoted
echo "a\\"
## stdout:
a\

#### quote removal in assignment
x="a b"'c d'; echo "$x"
## stdout:
a bc d

#### mixed quoted var split
x='1  2'; echo "$x" $x
## stdout:
1  2 1 2

#### escaped newline in double quotes joins
echo "a\
b"
## stdout:
ab

#### literal braces
echo { } {} '{a,b}'
## stdout:
{ } {} {a,b}

#### backslash before an ordinary character in double quotes is kept
echo "\z" "\a\b" "\$" "\\" "\`" "a\ b"
## stdout:
\z \a\b $ \ ` a\ b
