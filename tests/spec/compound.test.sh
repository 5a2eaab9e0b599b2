#### if then
if true; then echo yes; fi
## stdout:
yes

#### if else
if false; then echo yes; else echo no; fi
## stdout:
no

#### elif chain
x=2; if [ $x = 1 ]; then echo one; elif [ $x = 2 ]; then echo two; else echo other; fi
## stdout:
two

#### if status when no branch
if false; then :; fi; echo $?
## stdout:
0

#### if condition status used
if (exit 3); then echo y; else echo "n $?"; fi
## stdout:
n 3

#### while loop
i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done
## stdout:
0
1
2

#### until loop
i=0; until [ $i -ge 3 ]; do echo $i; i=$((i+1)); done
## stdout:
0
1
2

#### for in list
for x in a b c; do echo $x; done
## stdout:
a
b
c

#### for without in uses args
set -- p q; for x; do echo $x; done
## stdout:
p
q

#### for over empty list
for x in; do echo never; done; echo done
## stdout:
done

#### break
for i in 1 2 3 4; do [ $i = 3 ] && break; echo $i; done
## stdout:
1
2

#### continue
for i in 1 2 3 4; do [ $i = 2 ] && continue; echo $i; done
## stdout:
1
3
4

#### break two levels
for i in 1 2; do for j in a b; do [ $j = b ] && break 2; echo $i$j; done; done; echo out
## stdout:
1a
out

#### continue two levels
for i in 1 2; do for j in a b; do [ $j = b ] && continue 2; echo $i$j; done; echo never; done
## stdout:
1a
2a

#### loop status
for i in 1; do false; done; echo $?
## stdout:
1

#### case basic
case foo in foo) echo matched;; bar) echo no;; esac
## stdout:
matched

#### case default
case zzz in a) echo a;; *) echo default;; esac
## stdout:
default

#### case fallthrough
case a in a) echo one;& b) echo two;; c) echo three;; esac
## stdout:
one
two

#### case continue matching
case ab in a*) echo first;;& *b) echo second;; *) echo third;; esac
## stdout:
first
second

#### case no match status
case x in y) echo y;; esac; echo $?
## stdout:
0

#### case with paren pattern
case x in (x) echo paren;; esac
## stdout:
paren

#### case multiline
case "$1" in
  "")
    echo empty
    ;;
  *)
    echo nonempty
    ;;
esac
## stdout:
empty

#### case variable pattern
p='a*'; case abc in $p) echo glob-var;; esac
## stdout:
glob-var

#### subshell isolation
x=1; (x=2; echo in $x); echo out $x
## stdout:
in 2
out 1

#### subshell cd isolation
mkdir sub; (cd sub; basename "$PWD"); [ "$(basename "$PWD")" != sub ] && echo back
## stdout:
sub
back

#### brace group shares state
x=1; { x=2; }; echo $x
## stdout:
2

#### brace group status
{ false; }; echo $?
## stdout:
1

#### nested if in loop
for i in 1 2 3; do if [ $((i % 2)) = 1 ]; then echo odd $i; fi; done
## stdout:
odd 1
odd 3

#### while with read and break
printf 'a\nstop\nb\n' | while read l; do [ "$l" = stop ] && break; echo $l; done
## stdout:
a

#### multiline if
if true
then
  echo multi
fi
## stdout:
multi

#### loop with semicolons and newlines
for i in 1 2
do
  echo $i
done
## stdout:
1
2

#### exit in subshell
(exit 4); echo $?
## stdout:
4

#### exit stops script
echo before; exit 3; echo after
## stdout:
before
## status: 3

#### exit with no arg uses last status
false; exit
## stdout:
## status: 1

#### nested loops with arithmetic
for i in 1 2; do for j in 1 2; do echo $((i*j)); done; done
## stdout:
1
2
2
4

#### while false never runs
while false; do echo x; done; echo $?
## stdout:
0

#### break in a loop condition ends the loop
for i in 1 2; do while break; do echo x; done; echo $i; done
## stdout:
1
2

#### continue in an until condition ends the until loop
for i in 1 2; do until continue; do echo x; done; echo $i; done
## stdout:
1
2

#### break and continue in a condition list
i=0; while [ $i -lt 5 ] && { i=$((i+1)); [ $i = 3 ] && break; true; }; do echo $i; done; echo end $i
## stdout:
1
2
end 3

#### break in a function called from a loop does not leave the loop
f() { break; }; for i in 1 2 3; do echo $i; f; done; echo end
## stdout:
1
2
3
end

#### continue in a function called from a loop is an error
f() { continue; }; for i in 1 2; do f; echo $i; done
## stdout:
1
2

#### break in a subshell inside a loop
for i in 1 2; do (break); echo $i; done; for i in 1 2; do echo $(break)x; done
## stdout:
1
2
x
x

#### break with a count from nested loops
for i in 1 2; do for j in a b; do echo $i$j; break 2; done; done; echo after
## stdout:
1a
after

#### (( that does not close as arithmetic is two subshells
((echo a; echo b) | cat)
## stdout:
a
b

#### (( arithmetic and nested subshells side by side
((x = 1 + 2)); echo $x; ( (echo c) ); f() ((echo in f) ); f
## stdout:
3
c
in f

#### select picks a word by number
select x in a b c; do echo "got $x $REPLY"; break; done <<< "2"
## stdout:
got b 2

#### select with an answer out of range
select x in a b c; do echo "got [$x] $REPLY"; break; done <<< "9"
## stdout:
got [] 9

#### select ends at end of input with status 1
PS3="pick: "; select x in a b; do echo "[$x]"; done <<< $'1\n\n5\n'; echo $?
## stdout:
[a]
[]

1

#### select over the positional parameters
set -- p q; select x; do echo $x; continue; done <<< "1"; echo $?
## stdout:
p

1
