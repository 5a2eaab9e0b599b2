#### echo plain
echo a b c
## stdout:
a b c

#### echo dash n
echo -n no-newline; echo
## stdout:
no-newline

#### echo dash e
echo -e 'a\tb\nc'
## stdout:
a	b
c

#### echo dash e backslash c
echo -e 'stop\chere'; echo
## stdout:
stop

#### echo combined flags
echo -ne 'x\n'
## stdout:
x

#### echo invalid flag printed
echo -z hi
## stdout:
-z hi

#### echo double dash printed
echo -- hi
## stdout:
-- hi

#### echo without e keeps backslash
echo 'a\nb'
## stdout:
a\nb

#### echo octal
echo -e '\0101'
## stdout:
A

#### printf string
printf '%s\n' hello
## stdout:
hello

#### printf reuses format
printf '%s-' a b c; echo
## stdout:
a-b-c-

#### printf width and precision
printf '[%5s][%-5s][%.2s]\n' ab cd efgh
## stdout:
[   ab][cd   ][ef]

#### printf integers
printf '%d %i %5d %-5d| %05d\n' 42 -7 3 4 5
## stdout:
42 -7     3 4    | 00005

#### printf hex octal
printf '%x %X %o %#x\n' 255 255 8 255
## stdout:
ff FF 10 0xff

#### printf float
printf '%.2f %e %g\n' 3.14159 1500 0.0001
## stdout:
3.14 1.500000e+03 0.0001

#### printf char
printf '%c%c\n' hello world
## stdout:
hw

#### printf percent literal
printf '100%%\n'
## stdout:
100%

#### printf b escapes
printf '%b\n' 'a\tb'
## stdout:
a	b

#### printf q quoting
printf '%q\n' 'a b' "it's"
## stdout:
a\ b
it\'s

#### printf missing args
printf '%s|%d|\n'
## stdout:
|0|

#### printf char constant
printf '%d\n' "'A"
## stdout:
65

#### printf invalid number
printf '%d\n' abc; echo status=$?
## stdout:
0
status=1
## stderr-contains: invalid number

#### printf star width
printf '[%*d]\n' 6 42
## stdout:
[    42]

#### printf escapes in format
printf 'a\tb\\n\n'
## stdout:
a	b\n

#### printf v option
printf -v out '%s=%s' k v; echo $out
## stdout:
k=v

#### printf no args
printf
## stdout:
## status: 2

#### printf hex arg
printf '%d\n' 0x10
## stdout:
16

#### printf octal arg
printf '%d\n' 010
## stdout:
8

#### printf negative hex
printf '%x\n' -1
## stdout:
ffffffffffffffff

#### printf many formats
printf '%s:%s\n' a 1 b 2 c
## stdout:
a:1
b:2
c:
