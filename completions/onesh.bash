# bash completion for onesh — source this file, or copy it to
# ~/.local/share/bash-completion/completions/onesh
_onesh() {
    local cur prev words cword
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    local sub="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            cluster|runtime|bootstrap) sub="${COMP_WORDS[i]}"; break ;;
            -c) return 0 ;;
        esac
    done
    case "$sub" in
        cluster)
            local action=""
            for ((i = i + 1; i < COMP_CWORD; i++)); do
                case "${COMP_WORDS[i]}" in up|status|down) action="${COMP_WORDS[i]}" ;; esac
            done
            case "$prev" in
                --data-dir) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
                --nodes|--sensors|--listen) return 0 ;;
            esac
            case "$action" in
                up) COMPREPLY=($(compgen -W "--nodes --sensors --listen --data-dir --help" -- "$cur")) ;;
                status) COMPREPLY=($(compgen -W "--json --data-dir --help" -- "$cur")) ;;
                down) COMPREPLY=($(compgen -W "--data-dir --help" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "up status down --help" -- "$cur")) ;;
            esac
            return 0 ;;
        runtime)
            case "$prev" in
                --data-dir) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
                --secret) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
                --name|--join|--listen|--tags|--device) return 0 ;;
            esac
            COMPREPLY=($(compgen -W "--name --join --listen --data-dir --tags --device --secret --dial-out --help" -- "$cur"))
            return 0 ;;
        bootstrap)
            case "$prev" in
                --identity) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
                --cluster) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
                --name|--tags|--device|--python|--listen|--wait) return 0 ;;
            esac
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--name --tags --device --python --identity --accept-new --listen --dial-out --wait --remove --cluster --help" -- "$cur"))
            else
                COMPREPLY=($(compgen -A hostname -- "$cur"))
            fi
            return 0 ;;
    esac
    case "$prev" in
        -o|+o)
            COMPREPLY=($(compgen -W "errexit nounset xtrace noglob noclobber pipefail verbose noexec allexport" -- "$cur"))
            return 0 ;;
        --cluster) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "-c -e -x -u -o -i -s --help --version --debug --cluster --plan" -- "$cur"))
        return 0
    fi
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "cluster runtime bootstrap" -- "$cur"))
    fi
    # scripts: *.onesh first, then any file or directory
    local IFS=$'\n'
    COMPREPLY+=($(compgen -f -X '!*.onesh' -- "$cur") $(compgen -d -- "$cur"))
    [[ ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
    return 0
}
complete -o filenames -F _onesh onesh
