#### star matches files sorted
touch b.txt a.txt c.log; echo *.txt
## stdout:
a.txt b.txt

#### question mark
touch a1 a2 a10; echo a?
## stdout:
a1 a2

#### bracket class
touch x1 x2 x3; echo x[13]
## stdout:
x1 x3

#### negated bracket
touch y1 y2 y3; echo y[!2]
## stdout:
y1 y3

#### no match stays literal
echo *.none
## stdout:
*.none

#### quoted star not globbed
touch q1; echo "*" '*'
## stdout:
* *

#### dotfiles hidden
touch .hidden visible; echo *
## stdout:
visible

#### dot pattern shows dotfiles
touch .h1 .h2; echo .h*
## stdout:
.h1 .h2

#### glob in subdirectory
mkdir -p d/e; touch d/e/f1 d/e/f2; echo d/*/f*
## stdout:
d/e/f1 d/e/f2

#### directory trailing slash
mkdir d1 d2; touch f; echo */
## stdout:
d1/ d2/

#### character class names
touch A b C; echo [[:upper:]]
## stdout:
A C

#### glob from variable
touch m1 m2; p='m*'; echo $p
## stdout:
m1 m2

#### quoted variable not globbed
touch n1; p='n*'; echo "$p"
## stdout:
n*

#### noglob option
touch g1; set -f; echo g*
## stdout:
g*

#### escaped star
touch 's*'; echo s\*
## stdout:
s*

#### range in brackets
touch r1 r5 r9; echo r[1-5]
## stdout:
r1 r5

#### glob with no dir
echo /nonexistent-dir-xyz/*
## stdout:
/nonexistent-dir-xyz/*

#### glob in for loop
touch f1 f2 f3; for f in f*; do echo "<$f>"; done
## stdout:
<f1>
<f2>
<f3>

#### case pattern glob
case hello.c in *.c) echo c-file;; *) echo other;; esac
## stdout:
c-file

#### case pattern alternatives
case b in a|b|c) echo matched;; esac
## stdout:
matched

#### case quoted pattern literal
x='*'; case abc in "$x") echo literal;; *) echo glob;; esac
## stdout:
glob
