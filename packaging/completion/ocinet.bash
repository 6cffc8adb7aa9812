# bash completion for ocinet
_ocinet() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
  local globals="--config --run-dir --lib-dir --log-level --help"
  case "${words[1]}" in
    network)
      case "${words[2]}" in
        create) COMPREPLY=($(compgen -W "-d --driver --subnet --gateway --ip-range --internal --ipv6 --mtu --disable-dns --dns -o --opt" -- "$cur")) ;;
        inspect|rm|connect|disconnect)
          local nets
          nets=$(ocinet network ls --format json 2>/dev/null | sed -n 's/.*"Name": "\([^"]*\)".*/\1/p')
          COMPREPLY=($(compgen -W "$nets --ip --alias" -- "$cur")) ;;
        ls) COMPREPLY=($(compgen -W "--format" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "create ls inspect rm prune reload connect disconnect" -- "$cur")) ;;
      esac ;;
    bundle) COMPREPLY=($(compgen -W "inject --annotation --hook" -- "$cur")) ;;
    ps) COMPREPLY=($(compgen -W "--format" -- "$cur")) ;;
    dns) COMPREPLY=($(compgen -W "status" -- "$cur")) ;;
    agent) COMPREPLY=($(compgen -W "--advertise-address --lease-ttl" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "network dns ps gc bundle agent version $globals" -- "$cur")) ;;
  esac
}
complete -F _ocinet ocinet
