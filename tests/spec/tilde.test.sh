#### tilde alone
HOME=/home/u; echo ~
## stdout:
/home/u

#### tilde slash path
HOME=/home/u; echo ~/x/y
## stdout:
/home/u/x/y

#### tilde in middle not expanded
HOME=/home/u; echo a~b
## stdout:
a~b

#### tilde in assignment
HOME=/home/u; x=~/d; echo $x
## stdout:
/home/u/d

#### tilde after colon in assignment
HOME=/home/u; p=/bin:~/bin; echo $p
## stdout:
/bin:/home/u/bin

#### tilde root user
echo ~root
## stdout:
/root

#### tilde unknown user unchanged
echo ~no_such_user_xyz
## stdout:
~no_such_user_xyz
