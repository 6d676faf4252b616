/**
 * `quickcmd completion bash|zsh`: a completion script generated from the command tree
 * itself, so it never drifts from the real flags. Agent and group names after --agent,
 * --agents and --group come from the controller config (`quickcmd completion agents`).
 */
import type { Command } from 'commander';
import { loadControllerConfig, defaultConfigPath } from './controller-config.js';
import type { OutStream } from './render.js';

/** One command of the tree, flattened. */
interface Node {
  /** Space-separated path below the program ("" for the program, "job submit"). */
  readonly path: string;
  readonly children: { name: string; description: string }[];
  readonly options: { flags: string[]; description: string; takesValue: boolean }[];
}

const FILE_OPTIONS = ['--secret-file', '--ca-file', '--cert', '--key', '--config', '--db'];
const AGENT_OPTIONS = ['--agent', '--agents'];

function flatten(cmd: Command, path: string, out: Node[]): Node[] {
  out.push({
    path,
    children: cmd.commands.map((c) => ({ name: c.name(), description: c.description() })),
    options: [...cmd.options.map((o) => ({ flags: [o.long, o.short].filter((f): f is string => f !== undefined), description: o.description, takesValue: o.required || o.optional })), { flags: ['--help', '-h'], description: 'show help', takesValue: false }],
  });
  for (const c of cmd.commands) flatten(c, path === '' ? c.name() : `${path} ${c.name()}`, out);
  return out;
}

const valueOptions = (nodes: Node[]): string[] => [...new Set(nodes.flatMap((n) => n.options.filter((o) => o.takesValue).flatMap((o) => o.flags)))];

/** The bash completion script for `program`. */
export function bashScript(program: Command): string {
  const nodes = flatten(program, '', []);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const cases = nodes.map((n) => `    "${n.path}") words_here="${[...n.children.map((c) => c.name), ...n.options.flatMap((o) => o.flags)].join(' ')}" ;;`).join('\n');
  const children = nodes.map((n) => `    "${n.path}") kids="${n.children.map((c) => c.name).join(' ')}" ;;`).join('\n');
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
${fn}() {
  local cur prev path="" kids words_here i w skip=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    if [[ $w == -- ]]; then compopt -o default 2>/dev/null; COMPREPLY=(); return 0; fi
    case " ${valueOptions(nodes).join(' ')} " in *" $w "*) skip=1; continue ;; esac
    [[ $w == -* ]] && continue
    case "$path" in
${children}
    *) kids="" ;;
    esac
    case " $kids " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  case "$prev" in
    ${AGENT_OPTIONS.join('|')}) COMPREPLY=($(compgen -W "$(${name} completion agents 2>/dev/null)" -- "$cur")); return 0 ;;
    --group) COMPREPLY=($(compgen -W "$(${name} completion groups 2>/dev/null)" -- "$cur")); return 0 ;;
    ${FILE_OPTIONS.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
  esac
  case "$path" in
${cases}
    *) words_here="" ;;
  esac
  COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
}
complete -F ${fn} ${name}
`;
}

function zq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`).replace(/:/g, '\\:')}'`;
}

/** The zsh completion script for `program` (native, with descriptions). */
export function zshScript(program: Command): string {
  const nodes = flatten(program, '', []);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const children = nodes.map((n) => `    "${n.path}") kids=(${n.children.map((c) => c.name).join(' ')}) ;;`).join('\n');
  const cases = nodes
    .map((n) => {
      const cmds = n.children.map((c) => zq(`${c.name}:${c.description}`)).join(' ');
      const opts = n.options.flatMap((o) => o.flags.map((f) => zq(`${f}:${o.description}`))).join(' ');
      return `    "${n.path}") cmds=(${cmds}); opts=(${opts}) ;;`;
    })
    .join('\n');
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh)
${fn}() {
  local path="" w prev i skip=0
  local -a kids cmds opts
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    if ((skip)); then skip=0; continue; fi
    if [[ $w == -- ]]; then _normal; return; fi
    case " ${valueOptions(nodes).join(' ')} " in *" $w "*) skip=1; continue ;; esac
    [[ $w == -* ]] && continue
    case "$path" in
${children}
    *) kids=() ;;
    esac
    (( \${kids[(Ie)$w]} )) && path="\${path:+$path }$w"
  done
  prev=\${words[CURRENT-1]}
  case "$prev" in
    ${AGENT_OPTIONS.join('|')}) compadd -- \${(f)"$(${name} completion agents 2>/dev/null)"}; return ;;
    --group) compadd -- \${(f)"$(${name} completion groups 2>/dev/null)"}; return ;;
    ${FILE_OPTIONS.join('|')}) _files; return ;;
  esac
  case "$path" in
${cases}
    *) cmds=(); opts=() ;;
  esac
  if [[ \${words[CURRENT]} == -* ]]; then
    _describe -t options 'option' opts
  else
    _describe -t commands 'command' cmds || _describe -t options 'option' opts
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then ${fn} "$@"; else compdef ${fn} ${name}; fi
`;
}

/** Register `completion <shell>`. */
export function registerCompletion(program: Command, io: { stdout: OutStream; stderr: OutStream }, setExit: (code: number) => void, env: Readonly<Record<string, string | undefined>>): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(quickcmd completion bash)')
    .argument('<shell>', 'bash or zsh')
    .option('--config <file>', 'controller config file for agent and group names')
    .action((shell: string, opts: { config?: string }, cmd: Command) => {
      switch (shell) {
        case 'bash':
          io.stdout.write(bashScript(program));
          break;
        case 'zsh':
          io.stdout.write(zshScript(program));
          break;
        case 'agents':
        case 'groups': {
          // Used by the scripts themselves; a broken config just completes nothing.
          const explicit = opts.config ?? env['QUICKCMD_CONTROLLER_CONFIG'];
          try {
            const cfg = loadControllerConfig(explicit ?? defaultConfigPath(env), explicit !== undefined);
            const names = Object.keys(shell === 'agents' ? cfg.agents : cfg.groups);
            if (names.length > 0) io.stdout.write(`${names.join('\n')}\n`);
          } catch {
            // nothing to offer
          }
          break;
        }
        default:
          cmd.error(`error: unsupported shell ${JSON.stringify(shell)}; use bash or zsh`, { exitCode: 2, code: 'quickcmd.usage' });
      }
      setExit(0);
    });
}
