#### comma list
echo a{b,c,d}e
## stdout:
abe ace ade

#### numeric range
echo {1..5}
## stdout:
1 2 3 4 5

#### descending range
echo {5..1}
## stdout:
5 4 3 2 1

#### range with step
echo {0..10..3}
## stdout:
0 3 6 9

#### letter range
echo {a..e}
## stdout:
a b c d e

#### zero padded range
echo {08..11}
## stdout:
08 09 10 11

#### nested braces
echo {a,b{1,2}}
## stdout:
a b1 b2

#### cartesian product
echo {a,b}{1,2}
## stdout:
a1 a2 b1 b2

#### quoted braces not expanded
echo '{a,b}' "{1..3}"
## stdout:
{a,b} {1..3}

#### single item not expanded
echo {a}
## stdout:
{a}

#### empty alternatives
echo x{,y}
## stdout:
x xy

#### brace with variable
x=v; echo {$x,w}
## stdout:
v w

#### negative range
echo {-2..2}
## stdout:
-2 -1 0 1 2

#### no expansion in assignment
x={a,b}; echo $x
## stdout:
{a,b}
