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

#### wrapping at 64 bits in every operator
x=9223372036854775807; echo $((x + 1)) $((-x - 2)) $((x * 2)) $((1 << 63)) $((2 ** 64)) $((18446744073709551617))
((x++)); echo $x; ((x--)); echo $x; ((x *= 3)); echo $x
## stdout:
-9223372036854775808 9223372036854775807 -2 -9223372036854775808 0 1
-9223372036854775808
9223372036854775807
9223372036854775805

#### exponent is right-associative and binds looser than unary minus
x=2; echo $((-2 ** 2)) $((-x ** 2)) $((0 ** 0)) $((x ** x ** x)) $((3 ** 40))
## stdout:
4 4 1 16 -6289078614652622815

#### negative exponent fails, even where not evaluated
(echo $((2 ** -1))); echo $?; (echo $((0 && 2 ** -1))); echo $?; x=-1; echo $((0 && 2 ** x))
## stdout:
1
1
0
## stderr-contains: exponent less than 0 (error token is "1

#### digits Python reads but bash does not
(echo $((1_000))); x=0x1_0; (echo $((x))); echo $((0x10 + 64#1_))
## stdout:
143
## stderr-contains: 1_000: value too great for base (error token is "1_000")

#### no **= operator (bash has none)
x=3; ((x **= 2)); echo $? $x
## stdout:
1 3
## stderr-contains: operand expected (error token is "= 2

#### division by zero names the divisor and assigns nothing
x=0; y=4; (echo $((7 / x))); echo $?; ((y %= x)); echo $? $y; echo $((0 && 1 / 0)) $((1 || y / x)) $((1 ? 2 : 1 % 0))
## stdout:
1
1 4
0 1 2
## stderr-contains: 7 / x
## stderr-contains: division by 0 (error token is "x

#### division by zero in an assignment
a=(4); ((a[0] /= 0)); echo $? ${a[@]}; ((n = 5 / 0)); echo $? ${n-unset}
## stdout:
1 4
1 unset
## stderr-contains: division by 0 (error token is "0

#### variables holding expressions are evaluated when read
a=b+1; b=c*2; c=3; echo $((a)) $((a * 2)); c=10; echo $((a)); ((a++)); echo $a
## stdout:
7 14
21
22

#### a variable naming a variable is incremented itself
x=3; y=x; echo $((y++)) $x $y
## stdout:
3 3 4

#### an element holding an expression
v=(x 'x*2'); x=7; echo $((v[0] + v[1])); i=1+0; echo $((v[i]))
## stdout:
21
14

#### a variable whose value refers to itself
x='x+1'; (echo $((x))); echo $? after
## stdout:
1 after
## stderr-contains: expression recursion level exceeded

#### assignment operators on array elements
a=(1 2); i=0; ((a[1] *= 5)); ((a[0] <<= 3)); ((a[3] |= 4)); ((a[i = 1] += 1)); ((a[-1] ^= 6, a[0] %= 5, a[1] -= 20, a[0] &= 7))
echo ${a[@]} $i
## stdout:
3 -9 2 1

#### element assignment evaluates the value before the subscript
a=(1 2); i=0; ((a[i++] = i++)); echo ${a[@]} $i
## stdout:
1 0 2

#### compound element assignment reads the element before the value
a=(5 6 7); i=0; ((a[i++] += i)); echo ${a[@]} $i; x=5; ((x += x += 1)); echo $x
## stdout:
6 6 7 1
11

#### empty array then arithmetic on its elements
a=(); x=7; a[0]=x; ((a[2]++)); echo $((a[0] + 1)) ${#a[@]} ${a[2]}
## stdout:
8 2 1

#### syntax error after an assignment keeps the assignment
x=1; ((x = 5, 3 +)); echo $? $x
## stdout:
1 5
## stderr-contains: operand expected (error token is "+

#### syntax error in the right side: the left side ran, nothing assigned
x=1; ((y = x++ +)); echo $? $x ${y-unset}
## stdout:
1 2 unset

#### unclosed subscript: nothing in it is evaluated
x=1; ((y = x++, a[x++)); echo $? $x $y
## stdout:
1 2 1
## stderr-contains: bad array subscript (error token is "a[x++

#### invalid character after an assignment
x=1; ((x = 5, 2 @ 3)); echo $? $x
## stdout:
1 5
## stderr-contains: invalid arithmetic operator (error token is "@ 3

#### assignment to something not a variable
((0 ? 1 : x = 5)); echo $? ${x-unset}; ((3 = 4)); echo $?
## stdout:
1 unset
1
## stderr-contains: attempted assignment to non-variable (error token is "= 5

#### conditional operator: any expression before the colon
echo $((1 ? x = 2, y = 3 : 4)) $x $y $((0 ? 1 : 0 ? 2 : 5))
## stdout:
3 2 3 5

#### conditional operator missing parts
((1 ? : 2)); echo $?; x=1; ((x++ ? x++)); echo $? $x
## stdout:
1
1 3
## stderr-contains: expression expected (error token is ": 2
## stderr-contains: `:' expected for conditional expression

#### doubled signs are increments only next to a name
x=1; echo $((--5)) $((5--3)) $((5++3)) $((!--5)) $(((2)--3)) $((x+++x)) $x
## stdout:
5 8 8 0 5 3 2

#### short circuit skips side effects and errors
x=0; a=(1); ((0 && x++)); ((1 || x++)); ((1 ? 1 : x++)); ((0 ? x++ : 1)); ((0 && a[x++]++)); echo $x ${a[@]}
e='1/0'; echo $((0 && e)) $((1 || e))
## stdout:
0 1
0 1

#### arith command status follows the value
((0)); echo $?; ((-1)); echo $?; ((x = 0)); echo $?; ((1 / 0)); echo $?; ((" ")); echo $?
## stdout:
1
0
1
1
1

#### arith command failing under set -e
set -e; ((1)); echo one; ((0)) || echo ok; x=0; ((x++)) && echo no; if ((0)); then :; fi; echo two; ((0)); echo three
## stdout:
one
ok
two
## status: 1

#### c style for with all parts empty
n=0; for ((;;)); do ((n++ < 2)) || break; done; echo $n $?
## stdout:
3 0

#### c style for: continue runs the step, status is the body's
for ((i = 0; i < 3; i++)); do continue; done; echo $i
for ((i = 0; i < 2; i++)); do false; done; echo $?
false; for ((i = 0; i < 0; i++)); do :; done; echo $?
## stdout:
3
1
0

#### c style for with commas and expansions
n=3; for ((i = 0, s = 0; i < $n * 2; s += i, i++)); do :; done; echo $i $s
## stdout:
6 15

#### c style for condition failing
for ((i = 0; i < 1 / 0; i++)); do echo never; done; echo $?
## stdout:
1
## stderr-contains: division by 0

#### c style for condition changing in the body
n=5; for ((i = 0; i < n; i++)); do n=2; echo $i; done
## stdout:
0
1
