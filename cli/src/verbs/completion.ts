import { CliError, ExitCode } from '../errors.js';

/** The command tree, as completion needs it. */
export interface CompletionSpec {
  readonly globalFlags: readonly string[];
  readonly verbs: readonly { name: string; flags: readonly string[]; subverbs: readonly string[] }[];
  /** Kinds a KIND/NAME argument may start with. */
  readonly kinds: readonly string[];
}

/**
 * A bash completion script for kubectl-novapos typed directly. It asks `kubectl-novapos __complete WORD…`,
 * the same answer kubectl ≥ 1.26 gets through kubectl_complete-novapos for `kubectl novapos …`, so both
 * complete alike: verbs, flags, KIND/ and names from the apiserver under the words' own --context, -n,
 * --kubeconfig.
 */
export function bashCompletion(): string {
  return `# bash completion for kubectl-novapos; load with: source <(kubectl-novapos completion bash)
_kubectl_novapos() {
  local out line directive
  COMPREPLY=()
  out=$(kubectl-novapos __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  directive=\${out##*:}
  while IFS= read -r line; do
    [[ -z $line || $line == :* ]] && continue
    COMPREPLY+=("\${line%%$'\\t'*}")
  done <<<"$out"
  (( directive & 2 )) && compopt -o nospace 2>/dev/null
  if (( \${#COMPREPLY[@]} == 0 && !(directive & 4) )); then
    COMPREPLY=( $(compgen -f -- "\${COMP_WORDS[COMP_CWORD]}") )
  fi
  return 0
}
complete -F _kubectl_novapos kubectl-novapos
`;
}

/**
 * A zsh completion script for kubectl-novapos typed directly: native zsh (with the plugin's descriptions),
 * asking `kubectl-novapos __complete` like the bash one. It works sourced and saved as _kubectl-novapos in a
 * directory of $fpath.
 */
export function zshCompletion(): string {
  return `#compdef kubectl-novapos
# zsh completion for kubectl-novapos; load with: source <(kubectl-novapos completion zsh)
_kubectl-novapos() {
  local out line directive
  local -a lines described plain nospace
  out=$(kubectl-novapos __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive=\${\${lines[-1]}#:}
  for line in "\${(@)lines[1,-2]}"; do
    [[ -z $line ]] && continue
    if [[ $line == *$'\\t'* ]]; then
      described+=("\${\${line%%$'\\t'*}//:/\\\\:}:\${line#*$'\\t'}")
    else
      plain+=("$line")
    fi
  done
  (( directive & 2 )) && nospace=(-S '')
  (( \${#described} )) && _describe -t commands 'kubectl-novapos' described "\${(@)nospace}"
  (( \${#plain} )) && compadd "\${(@)nospace}" -a plain
  if (( \${#described} + \${#plain} == 0 && !(directive & 4) )); then
    _files
  fi
}
if [[ "\${funcstack[1]}" == _kubectl-novapos ]]; then
  _kubectl-novapos "$@"
else
  compdef _kubectl-novapos kubectl-novapos
fi
`;
}

export function completionScript(shell: string): string {
  if (shell === 'bash') return bashCompletion();
  if (shell === 'zsh') return zshCompletion();
  throw new CliError(`no completion for shell "${shell}"`, ExitCode.usage, 'use bash or zsh');
}
