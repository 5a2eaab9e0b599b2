# Process substitution: <(...) and >(...) as /dev/fd paths.

#### read two process substitutions
cat <(echo hi) <(echo there)
## stdout:
hi
there

#### write to a process substitution
echo hi > >(cat); wait
## stdout:
hi

#### feed a while loop from a process substitution
while read l; do echo "[$l]"; done < <(printf 'a\nb\n')
## stdout:
[a]
[b]

#### diff of two process substitutions
diff <(echo a) <(echo b); echo $?
## stdout:
1c1
< a
---
> b
1

#### the word is a /dev/fd path
x=<(true); echo ${x%%[0-9]*}
## stdout:
/dev/fd/

#### paste of two process substitutions
paste <(seq 3) <(seq 4 6) | tr '\t' ,
## stdout:
1,4
2,5
3,6

#### a function reads its argument
f() { cat "$1"; }; f <(echo via function); read x < <(echo y); echo $x
## stdout:
via function
y

#### process substitution glued to a word
echo 2>(cat) | tr -d 0-9
## stdout:
/dev/fd/

#### in a loop, and a reader that stops early
for i in 1 2; do cat <(echo $i); done; head -1 <(yes)
## stdout:
1
2
y

