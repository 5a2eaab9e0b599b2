#### addition and precedence
echo $((1 + 2 * 3)) $(((1 + 2) * 3))
## stdout:
7 9

#### division and modulo
echo $((7 / 2)) $((7 % 3)) $((-7 / 2)) $((-7 % 3))
## stdout:
3 1 -3 -1

#### exponent
echo $((2 ** 10)) $((2 ** 3 ** 2))
## stdout:
1024 512

#### comparison operators
echo $((1 < 2)) $((2 <= 1)) $((3 == 3)) $((3 != 3)) $((5 > 4)) $((5 >= 6))
## stdout:
1 0 1 0 1 0

#### logical operators
echo $((1 && 0)) $((1 || 0)) $((!0)) $((!5))
## stdout:
0 1 1 0

#### bitwise operators
echo $((5 & 3)) $((5 | 3)) $((5 ^ 3)) $((~0)) $((1 << 4)) $((256 >> 2))
## stdout:
1 7 6 -1 16 64

#### ternary
x=5; echo $((x > 3 ? 10 : 20))
## stdout:
10

#### variables without dollar
a=3; b=4; echo $((a * b))
## stdout:
12

#### assignment operators
x=10; ((x += 5)); echo $x; ((x -= 3)); echo $x; ((x *= 2)); echo $x; ((x /= 4)); echo $x; ((x %= 4)); echo $x
## stdout:
15
12
24
6
2

#### shift assignment
x=1; ((x <<= 3)); echo $x; ((x >>= 1)); echo $x
## stdout:
8
4

#### pre and post increment
i=5; echo $((i++)) $i $((++i)) $i $((i--)) $((--i))
## stdout:
5 6 7 7 7 5

#### hex octal base literals
echo $((0x1f)) $((017)) $((2#101)) $((36#z))
## stdout:
31 15 5 35

#### negative numbers
echo $((-5 + 3)) $(( - -2))
## stdout:
-2 2

#### comma operator
echo $((a=1, b=2, a+b))
## stdout:
3

#### unset variable is zero
unset z; echo $((z + 1))
## stdout:
1

#### variable holding expression
e='2+3'; echo $((e * 2))
## stdout:
10

#### nested parens
echo $(( ((2)) * (3 + (4 - 1)) ))
## stdout:
12

#### dollar variables inside
x=4; echo $(( $x * $x ))
## stdout:
16

#### division by zero fails
echo $((1 / 0)); echo after
## stdout:
## status: 1
## stderr-contains: division by 0

#### arith command status
((0)); echo $?; ((1)); echo $?; ((2 > 1)) && echo yes
## stdout:
1
0
yes

#### arith command assigns
((n = 6 * 7)); echo $n
## stdout:
42

#### c style for loop
for ((i = 0; i < 3; i++)); do echo $i; done
## stdout:
0
1
2

#### c style for with empty parts
i=0; for ((;;)); do ((i++ >= 2)) && break; echo $i; done
## stdout:
1
2

#### short circuit does not assign
x=0; echo $((0 && (x = 5))) $x
## stdout:
0 0

#### overflow wraps
echo $((9223372036854775807 + 1))
## stdout:
-9223372036854775808

#### spaces everywhere
echo $((   1+   2   ))
## stdout:
3

#### arith in string assignment
x=$((3 * 3)); echo "$x"
## stdout:
9

#### increment in loop condition
n=0; while ((n < 3)); do ((n++)); done; echo $n
## stdout:
3

#### quoted arith operands
echo $(( "3" + '4' ))
## stdout:
## status: 1

#### compare strings as vars
a=7; b=7; ((a == b)) && echo equal
## stdout:
equal

#### array elements in arithmetic
a=(1 2 3); i=1; echo $(( a[i] + 1 )) $(( a[-1] )) $(( a[i+1] * 2 ))
## stdout:
3 3 6

#### assignment to an element named by an expansion
i=3; (( x$i[5] = 42 )); echo ${x3[5]}
## stdout:
42

#### element increment and compound assignment
a=(5); (( a[0]++ )); (( a[2] += 7 )); (( ++a[1] )); echo ${a[@]}
## stdout:
6 1 7

#### unset element in arithmetic is zero
echo $(( b[3] + 1 ))
## stdout:
1
