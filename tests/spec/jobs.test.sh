#### background and wait
sleep 0.1 & wait $!; echo $?
## stdout:
0

#### wait returns job status
(exit 5) & wait $!; echo $?
## stdout:
5

#### wait all
sleep 0.1 & sleep 0.1 & wait; echo all-done
## stdout:
all-done

#### background output
echo from-bg & wait
## stdout:
from-bg

#### kill job by spec
sleep 10 & kill %1; wait %1; echo $?
## stdout:
143

#### kill by pid
sleep 10 & pid=$!; kill $pid; wait $pid; echo $?
## stdout:
143

#### dollar bang is set
sleep 0 & [ -n "$!" ] && echo has-pid; wait
## stdout:
has-pid

#### background does not block
sleep 2 & echo immediate; kill %1
## stdout:
immediate

#### background subshell isolation
x=1; { x=2; } & wait; echo $x
## stdout:
1

#### wait for unknown pid
wait 999999; echo $?
## stdout:
127
## stderr-contains: not a child

#### background pipeline
echo a | tr a b & wait
## stdout:
b
