# bash completion for parasold, Parasol's DNS resolver.  -*- shell-script -*-
# Every configuration key is also a --KEY=VALUE option; the keys come from
# 'parasold --help', so a newer parasold completes its new keys.

_parasold()
{
	local cmd="${COMP_WORDS[0]}" cur="${COMP_WORDS[COMP_CWORD]}" prev="" opt="" val=""
	((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
	COMPREPLY=()
	if [[ $cur == "=" && $prev == --* ]]; then
		opt="$prev"
	elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		opt="${COMP_WORDS[COMP_CWORD - 2]}" val="$cur"
	elif [[ $cur == --*=* ]]; then
		opt="${cur%%=*}" val="${cur#*=}"
	elif [[ $prev == -c ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
	fi
	if [[ -n $opt ]]; then
		case "$opt" in
		--config | --lists-db | --stats-db | --control | --resolv-conf)
			COMPREPLY=($(compgen -f -- "$val")) ;;
		--log-level)
			COMPREPLY=($(compgen -W "error warn info debug" -- "$val")) ;;
		--sinkhole)
			COMPREPLY=($(compgen -W "null nxdomain nodata refused" -- "$val")) ;;
		--seed-defaults | --stats-events)
			COMPREPLY=($(compgen -W "yes no" -- "$val")) ;;
		esac
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-c --config= --check-config --help --version
		    $("$cmd" --help 2>&1 | sed -n 's/^  \(--[a-z][a-z0-9-]*=\) .*/\1/p')" -- "$cur"))
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
	fi
	return 0
}
complete -F _parasold parasold
