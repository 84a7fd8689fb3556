import { CliError, ExitCode } from '../errors.js';

/** The command tree, as completion needs it. */
export interface CompletionSpec {
  readonly globalFlags: readonly string[];
  readonly verbs: readonly { name: string; flags: readonly string[]; subverbs: readonly string[] }[];
  /** Kinds a KIND/NAME argument may start with. */
  readonly kinds: readonly string[];
}

/**
 * A bash completion script for kubectl-novapos (and `kubectl novapos` through kubectl's plugin completion,
 * kubectl_complete-novapos). Resource names come from `kubectl get KIND` at completion time.
 */
export function bashCompletion(spec: CompletionSpec): string {
  const cases = spec.verbs
    .map((v) => `    ${v.name}) flags="${v.flags.join(' ')}"; subverbs="${v.subverbs.join(' ')}" ;;`)
    .join('\n');
  return `# bash completion for kubectl-novapos; load with: source <(kubectl-novapos completion bash)
_kubectl_novapos() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local verb="\${COMP_WORDS[1]}"
  local global="${spec.globalFlags.join(' ')}"
  local flags="" subverbs=""
  COMPREPLY=()
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=( $(compgen -W "${spec.verbs.map((v) => v.name).join(' ')}" -- "$cur") )
    return
  fi
  case "$verb" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$flags $global" -- "$cur") )
  elif [[ -n "$subverbs" && $COMP_CWORD -eq 2 ]]; then
    COMPREPLY=( $(compgen -W "$subverbs" -- "$cur") )
  elif [[ "$cur" == */* ]]; then
    local kind="\${cur%%/*}"
    COMPREPLY=( $(compgen -W "$(kubectl get "$kind" -o custom-columns=:metadata.name --no-headers 2>/dev/null | sed "s|^|$kind/|")" -- "$cur") )
  else
    compopt -o nospace 2>/dev/null
    COMPREPLY=( $(compgen -W "${spec.kinds.map((k) => `${k}/`).join(' ')}" -- "$cur") )
  fi
}
complete -F _kubectl_novapos kubectl-novapos
`;
}

/** zsh runs the bash script through bashcompinit. */
export function zshCompletion(spec: CompletionSpec): string {
  return `#compdef kubectl-novapos
# zsh completion for kubectl-novapos; load with: source <(kubectl-novapos completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(spec)}`;
}

export function completionScript(shell: string, spec: CompletionSpec): string {
  if (shell === 'bash') return bashCompletion(spec);
  if (shell === 'zsh') return zshCompletion(spec);
  throw new CliError(`no completion for shell "${shell}"`, ExitCode.usage, 'use bash or zsh');
}
