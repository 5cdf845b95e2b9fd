package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts ask nb itself for the words that can come next (urfave/cli's
// --generate-bash-completion), so they follow nb's commands and flags as they change.
const bashCompletion = `# nb bash completion: source it, or put it in /etc/bash_completion.d/nb
_nb_complete() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	if [[ "$cur" == -* ]]; then
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
	return 0
}
complete -o bashdefault -o default -F _nb_complete nb
`

const zshCompletion = `#compdef nb
# nb zsh completion: put it on $fpath as _nb, or source it after compinit
_nb() {
	local -a opts
	local cur=${words[-1]}
	if [[ "$cur" == -* ]]; then
		opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
	else
		opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
	fi
	if [[ "${opts[1]}" != "" ]]; then
		_describe 'values' opts
	else
		_files
	fi
}
compdef _nb nb
`

var completionCommand = &cli.Command{
	Name:      "completion",
	Usage:     "print a shell completion script (bash or zsh)",
	ArgsUsage: "bash|zsh",
	Description: `Examples:
   source <(nb completion bash)
   nb completion zsh > "${fpath[1]}/_nb"`,
	Action: func(ctx *cli.Context) error {
		if err := needArgs(ctx, 1, 1); err != nil {
			return err
		}
		switch ctx.Args().First() {
		case "bash":
			fmt.Fprint(ctx.App.Writer, bashCompletion)
		case "zsh":
			fmt.Fprint(ctx.App.Writer, zshCompletion)
		default:
			return fmt.Errorf("completion: shell %q: want bash or zsh", ctx.Args().First())
		}
		return nil
	},
}
