# bash completion for parasol-update, Parasol's feed updater.  -*- shell-script -*-

_parasol_update()
{
	local cur="${COMP_WORDS[COMP_CWORD]}" prev="" opt="" val=""
	((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
	COMPREPLY=()
	if [[ $cur == "=" && $prev == --* ]]; then
		opt="$prev"
	elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		opt="${COMP_WORDS[COMP_CWORD - 2]}" val="$cur"
	elif [[ $cur == --*=* ]]; then
		opt="${cur%%=*}" val="${cur#*=}"
	elif [[ $prev == -c || $prev == --lists-db || $prev == --control ||
	    $prev == --ca-file ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
	fi
	if [[ -n $opt ]]; then
		case "$opt" in
		--lists-db | --control | --ca-file)
			COMPREPLY=($(compgen -f -- "$val")) ;;
		esac
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-c -q --lists-db= --control= --no-reload
		    --feed= --force --dns= --resolve= --ca-file= --max-size=
		    --timeout= --connect-timeout= --max-shrink= --max-invalid=
		    --protect= --lock-wait= --json --quiet --help --version" -- "$cur"))
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
	fi
	return 0
}
complete -F _parasol_update parasol-update
