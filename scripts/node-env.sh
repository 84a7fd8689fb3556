# Sourced by the README's two commands: puts the project's Node.js LTS first on PATH for everything they run
# (npm, tsx, vitest, the harness's children, Pulumi's language host). See docs/adr/0003-node-lts.md.
node_bin="$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-node.sh")"
export PATH="$node_bin:$PATH"
# Native modules compile against this Node's own headers (shipped in the same package), not a download.
[[ -d "$node_bin/../include/node" ]] && export npm_config_nodedir="$(cd "$node_bin/.." && pwd)"
unset node_bin
