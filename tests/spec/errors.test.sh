#### unterminated double quote
echo "abc
## stdout:
## status: 2

#### unterminated single quote
echo 'abc
## stdout:
## status: 2

#### fi without if
fi
## stdout:
## status: 2
## stderr-contains: syntax error

#### missing done
for x in a; do echo $x
## stdout:
## status: 2
## stderr-contains: syntax error

#### unexpected paren
echo )
## stdout:
## status: 2
## stderr-contains: syntax error

#### earlier lines run before syntax error
echo first
if then
## stdout:
first
## status: 2
#### bad substitution
echo ${x!!}
## stdout:
## status: 1
## stderr-contains: bad substitution

#### pipe at start
| echo x
## stdout:
## status: 2
## stderr-contains: syntax error

#### double semicolon outside case
echo a;; echo b
## stdout:
## status: 2
## stderr-contains: syntax error

#### missing then
if true; echo x; fi
## stdout:
## status: 2
## stderr-contains: syntax error

#### exit codes above 255 wrap
(exit 257); echo $?
## stdout:
1

#### negative exit wraps
(exit -1); echo $?
## stdout:
255

#### unclosed brace group
{ echo a
## stdout:
## status: 2
## stderr-contains: syntax error
