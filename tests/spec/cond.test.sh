#### dbl bracket string equal
[[ abc == abc ]] && echo eq
## stdout:
eq

#### dbl bracket pattern
[[ hello == h*o ]] && echo glob
## stdout:
glob

#### dbl bracket quoted pattern literal
[[ hello == "h*o" ]] || echo literal
## stdout:
literal

#### dbl bracket not equal pattern
[[ abc != a* ]] || echo matches
## stdout:
matches

#### dbl bracket and or
[[ a == a && b == c ]] || echo and-false; [[ a == b || c == c ]] && echo or-true
## stdout:
and-false
or-true

#### dbl bracket negation and parens
[[ ! ( a == b ) ]] && echo neg
## stdout:
neg

#### dbl bracket regex
[[ abc123 =~ ^[a-z]+([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
## stdout:
123

#### dbl bracket regex no match
[[ abc =~ ^[0-9]+$ ]]; echo $?
## stdout:
1

#### dbl bracket no word splitting
x='a b'; [[ $x == 'a b' ]] && echo nosplit
## stdout:
nosplit

#### dbl bracket empty var
unset e; [[ -z $e ]] && echo empty
## stdout:
empty

#### dbl bracket less than
[[ a < b ]] && echo less
## stdout:
less

#### dbl bracket integer
[[ 10 -gt 9 ]] && echo gt
## stdout:
gt

#### dbl bracket file test
touch f; [[ -f f && ! -d f ]] && echo file
## stdout:
file

#### dbl bracket arith operands
x=3; [[ x+1 -eq 4 ]] && echo arith
## stdout:
arith

#### dbl bracket string nonempty
[[ nonempty ]] && echo yes
## stdout:
yes
