#### output to file
echo hi > f; cat f
## stdout:
hi

#### append
echo a > f; echo b >> f; cat f
## stdout:
a
b

#### input from file
printf 'x\ny\n' > f; wc -l < f | tr -d ' '
## stdout:
2

#### stderr to file
ls /nonexistent-xyz 2> err; test -s err && echo has-err
## stdout:
has-err

#### stderr to stdout order
{ echo out; echo err >&2; } 2>&1 | sort
## stdout:
err
out

#### redirect order matters
{ echo err >&2; } 2>&1 >/dev/null | cat
## stdout:
err

#### stdout to stderr
echo to-err >&2 2>/dev/null; echo ok
## stdout:
ok

#### both to file
{ echo o; echo e >&2; } &> both; sort both
## stdout:
e
o

#### append both
echo 1 &> f; echo 2 &>> f; cat f
## stdout:
1
2

#### read write redirect
echo data > f; cat <> f
## stdout:
data

#### fd 3 redirection
exec 3> f3; echo via3 >&3; exec 3>&-; cat f3
## stdout:
via3

#### read from fd 3
echo line > in; exec 3< in; read x <&3; echo $x
## stdout:
line

#### redirect on compound
{ echo a; echo b; } > f; cat f
## stdout:
a
b

#### redirect on loop
for i in 1 2; do echo $i; done > f; cat f
## stdout:
1
2

#### redirect loop input
printf '1\n2\n' > f; while read n; do echo "n=$n"; done < f
## stdout:
n=1
n=2

#### noclobber
set -C; echo a > f; echo b > f; echo status=$?; cat f
## stdout:
status=1
a
## stderr-contains: cannot overwrite

#### noclobber override
set -C; echo a > f; echo b >| f; cat f
## stdout:
b

#### redirect to missing dir
echo x > /nonexistent-dir/x; echo status=$?
## stdout:
status=1
## stderr-contains: No such file or directory

#### exec redirect stdout
exec > f; echo captured; exec >&2; cat f >&2
## stdout:

#### here string
cat <<< 'here string'
## stdout:
here string

#### here string with variable
x=val; cat <<< "x is $x"
## stdout:
x is val

#### redirect before command
> f echo first; cat f
## stdout:
first

#### dev null
echo gone > /dev/null; echo ok
## stdout:
ok

#### close stdout error
(echo x >&-) 2>/dev/null; echo $?
## stdout:
1

#### input redirect missing file
cat < /nonexistent-file-xyz; echo $?
## stdout:
1
## stderr-contains: No such file

#### redirect with variable target
name=out.txt; echo v > "$name"; cat out.txt
## stdout:
v

#### duplicate and close
exec 4>&1; echo via4 >&4; exec 4>&-
## stdout:
via4
