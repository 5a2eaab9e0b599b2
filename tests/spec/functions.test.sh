#### define and call
f() { echo "hello $1"; }; f world
## stdout:
hello world

#### function keyword
function g { echo g-called; }; g
## stdout:
g-called

#### function keyword with parens
function h() { echo h-called; }; h
## stdout:
h-called

#### return status
f() { return 3; }; f; echo $?
## stdout:
3

#### return without value uses last
f() { false; return; }; f; echo $?
## stdout:
1

#### positional args inside
f() { echo $# "$@"; }; f a 'b c'
## stdout:
2 a b c

#### positional restored after call
set -- outer; f() { echo $1; }; f inner; echo $1
## stdout:
inner
outer

#### local variable
x=global; f() { local x=local; echo $x; }; f; echo $x
## stdout:
local
global

#### local without value
x=g; f() { local x; echo "[$x]"; x=set; }; f; echo $x
## stdout:
[]
g

#### global assignment from function
f() { y=from-f; }; f; echo $y
## stdout:
from-f

#### recursion
fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1 - 1))) )); fi; }; fact 5
## stdout:
120

#### function redefinition
f() { echo one; }; f() { echo two; }; f
## stdout:
two

#### unset function
f() { echo x; }; unset -f f; f 2>/dev/null; echo $?
## stdout:
127

#### function with redirect
f() { echo redirected; } > out; f; cat out
## stdout:
redirected

#### nested function definition
outer() { inner() { echo inner; }; inner; }; outer; inner
## stdout:
inner
inner

#### function sees caller locals
f() { local v=fromf; g; }; g() { echo $v; }; f
## stdout:
fromf

#### function output in substitution
f() { echo a; echo b; }; x=$(f); echo "$x"
## stdout:
a
b

#### function exit status last command
f() { true; false; }; f; echo $?
## stdout:
1

#### return in loop inside function
f() { for i in 1 2 3; do [ $i = 2 ] && return 5; done; }; f; echo $?
## stdout:
5

#### function names with dash
my-func() { echo dashed; }; my-func
## stdout:
dashed

#### dollar zero in function
f() { echo "${0##*/}" >/dev/null; echo ok; }; f
## stdout:
ok

#### function brace body on lines
f()
{
  echo multiline
}
f
## stdout:
multiline

#### local in nested call
a() { local n=1; b; echo a:$n; }; b() { n=2; }; a; echo top:${n-unset}
## stdout:
a:2
top:unset

#### prefix assignment to function
f() { echo $V; }; V=temp f; echo "[${V-unset}]"
## stdout:
temp
[unset]

#### declare -f prints the body as bash does
f() { echo hi; if true; then echo x; elif false; then :; else echo y; fi; }
declare -f f
## stdout:
f () 
{ 
    echo hi;
    if true; then
        echo x;
    else
        if false; then
            :;
        else
            echo y;
        fi;
    fi
}

#### declare -f of simple commands, lists and pipelines
g() { a=1 b=2 cmd "x y" 'z' >out 2>&1 </dev/null; echo a && echo b || echo c; ! true | cat; x | y |& z; }
declare -f g
## stdout:
g () 
{ 
    a=1 b=2 cmd "x y" 'z' > out 2>&1 < /dev/null;
    echo a && echo b || echo c;
    ! true | cat;
    x | y 2>&1 | z
}

#### declare -f of loops
h() { for i in 1 2; do echo $i; done; for j; do :; done; while true; do break; done; until false; do break; done; }
declare -f h
## stdout:
h () 
{ 
    for i in 1 2;
    do
        echo $i;
    done;
    for j in "$@";
    do
        :;
    done;
    while true; do
        break;
    done;
    until false; do
        break;
    done
}

#### declare -f of case, subshell, group, arithmetic and conditional
k() { case $1 in a|b) echo ab;; *) echo other;& c) :;;& esac; (cd /; ls); { echo g; }; (( x = 1 + 2 )); [[ -n $x && $x == 3 ]]; }
declare -f k
## stdout:
k () 
{ 
    case $1 in 
        a | b)
            echo ab
        ;;
        *)
            echo other
        ;&
        c)
            :
        ;;&
    esac;
    ( cd /;
    ls );
    { 
        echo g
    };
    (( x = 1 + 2 ));
    [[ -n $x && $x == 3 ]]
}

#### declare -f with a here-document, background and arithmetic for
m() { cat <<EOT
hello $x
EOT
echo done; sleep 1 & echo bg; for ((i=0;i<3;i++)); do echo $i; done; }
declare -f m
## stdout:
m () 
{ 
    cat <<EOT
hello $x
EOT

    echo done
    sleep 1 & echo bg;
    for ((i=0; i<3; i++))
    do
        echo $i;
    done
}

#### declare -f of a subshell body, substitutions and a nested function
n() ( echo subshell body )
p() { local x=$(echo "a b") y=`date`; echo "${x:-def}" $((1+2)) ~/x; time sleep 0; f() { :; }; }
declare -f n p
## stdout:
n () 
{ 
    ( echo subshell body )
}
p () 
{ 
    local x=$(echo "a b") y=`date`;
    echo "${x:-def}" $((1+2)) ~/x;
    time sleep 0;
    function f () 
    { 
        :
    }
}

#### declare -f with comments, tab-stripped here-document and redirected body
function a { echo in a # comment
  for x in "$@"; do
    if [ -n "$x" ]; then echo "$x"; fi
  done
  cat <<-'END' >/dev/null
	tabbed $x
	END
  echo after
}
b() { echo b; } >/dev/null 2>&1
c() { local v=( 1 2 ); declare -a w=( 3 ); echo ${v[@]} & }
declare -f a b c
## stdout:
a () 
{ 
    echo in a;
    for x in "$@";
    do
        if [ -n "$x" ]; then
            echo "$x";
        fi;
    done;
    cat <<-'END' > /dev/null
tabbed $x
END

    echo after
}
b () 
{ 
    echo b
} > /dev/null 2>&1
c () 
{ 
    local v=(1 2);
    declare -a w=(3);
    echo ${v[@]} &
}

#### type and command -V print a function
f() { echo 1; }; type f; command -V f; type -t f
## stdout:
f is a function
f () 
{ 
    echo 1
}
f is a function
f () 
{ 
    echo 1
}
function

#### declare -f output can be evaluated again
f() { echo "[$1]"; }; eval "$(declare -f f | sed s/f/g/)"; g works
## stdout:
[works]
