"""`onesh bootstrap [user@]host`: install onesh on a device over SSH and
start a runtime there that joins this cluster.

    target     [user@]host[:port] and what ~/.ssh/config says about it
    hostkeys   ~/.ssh/known_hosts: known, unknown (ask) or changed (refuse)
    wheels     onesh and its dependencies as wheels, built on this side
    progress   a prompt_toolkit display on a terminal, plain lines otherwise
    steps      the six steps over one SSH connection, and --remove
    detach     runs on the device: starts the runtime outside the SSH session
    command    the command line, shared by `onesh bootstrap` and the builtin
"""
