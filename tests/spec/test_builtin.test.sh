#### test string equal
test abc = abc && echo eq
## stdout:
eq

#### bracket not equal
[ a != b ] && echo ne
## stdout:
ne

#### empty and nonempty
[ -z "" ] && echo empty; [ -n x ] && echo nonempty
## stdout:
empty
nonempty

#### single arg true when nonempty
[ hello ] && echo yes; [ "" ] || echo no
## stdout:
yes
no

#### integer comparisons
[ 3 -lt 5 ] && echo lt; [ 5 -ge 5 ] && echo ge; [ 2 -eq 3 ] || echo not-eq
## stdout:
lt
ge
not-eq

#### integer error
[ abc -eq 1 ]; echo $?
## stdout:
2
## stderr-contains: integer expression expected

#### file tests
touch f; mkdir d; [ -e f ] && echo e; [ -f f ] && echo f; [ -d d ] && echo d; [ -f d ] || echo not-file
## stdout:
e
f
d
not-file

#### nonexistent file
[ -e /nonexistent-xyz ] || echo missing
## stdout:
missing

#### size test
touch empty; echo x > full; [ -s empty ] || echo empty0; [ -s full ] && echo full
## stdout:
empty0
full

#### readable writable
touch f; [ -r f ] && [ -w f ] && echo rw
## stdout:
rw

#### executable
touch f; chmod +x f; [ -x f ] && echo exec
## stdout:
exec

#### symlink
touch t; ln -s t l; [ -L l ] && echo link; [ -h l ] && echo h
## stdout:
link
h

#### negation
[ ! -e /nonexistent ] && echo negated
## stdout:
negated

#### and or
[ a = a -a b = b ] && echo and; [ a = b -o c = c ] && echo or
## stdout:
and
or

#### parentheses
[ \( a = a \) ] && echo paren
## stdout:
paren

#### missing bracket
[ a = a; echo $?
## stdout:
2
## stderr-contains: missing

#### string less than
[ abc \< abd ] && echo less
## stdout:
less

#### newer than
touch -d '2000-01-01' old; touch new; [ new -nt old ] && echo newer; [ old -ot new ] && echo older
## stdout:
newer
older

#### test no args false
test; echo $?
## stdout:
1

#### too many args
[ a b c d e ]; echo $?
## stdout:
2

#### unary operator expected
[ -q x ]; echo $?
## stdout:
2

#### equal double equals
[ x == x ] && echo dbl
## stdout:
dbl

#### dash t on non tty
[ -t 0 ] || echo not-tty
## stdout:
not-tty

#### same file
touch a; ln a b; [ a -ef b ] && echo same
## stdout:
same
