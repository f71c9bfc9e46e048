# bash completion for parasol, Parasol's admin CLI.  -*- shell-script -*-
# Verbs come from 'parasol --help', so a newer parasol completes its new
# verbs; feed ids and local rules from the lists.db the command line names.

# The word being completed and, for "--opt=VALUE", the option: bash splits
# at '=' when COMP_WORDBREAKS holds it (the default), or not.
_parasol_cur_opt()
{
	local cur="${COMP_WORDS[COMP_CWORD]}" prev=""
	((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
	_parasol_opt="" _parasol_val=""
	if [[ $cur == "=" && $prev == --* ]]; then
		_parasol_opt="$prev" _parasol_val=""
	elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		_parasol_opt="${COMP_WORDS[COMP_CWORD - 2]}" _parasol_val="$cur"
	elif [[ $cur == --*=* ]]; then
		_parasol_opt="${cur%%=*}" _parasol_val="${cur#*=}"
	fi
	_parasol_cur="$cur"
}

_parasol()
{
	local cmd="${COMP_WORDS[0]}" w i verb="" sub="" db="" opts
	local -a words=()
	_parasol_cur_opt
	COMPREPLY=()
	# Verb, sub-verb and --lists-db among the words before the cursor.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w="${COMP_WORDS[i]}"
		if [[ $w == --lists-db ]] && [[ ${COMP_WORDS[i + 1]} == "=" ]]; then
			db="--lists-db=${COMP_WORDS[i + 2]}"
		elif [[ $w == --lists-db=* ]]; then
			db="$w"
		fi
		[[ $w == -* || $w == "=" || ${COMP_WORDS[i - 1]} == "=" ]] && continue
		words+=("$w")
	done
	verb="${words[0]}"
	sub="${words[1]}"

	if [[ -n $_parasol_opt ]]; then
		case "$_parasol_opt" in
		--lists-db | --stats-db | --control)
			COMPREPLY=($(compgen -f -- "$_parasol_val")) ;;
		--format)
			COMPREPLY=($(compgen -W "auto hosts domains adblock rpz dnsmasq" -- "$_parasol_val")) ;;
		--match)
			COMPREPLY=($(compgen -W "exact subtree" -- "$_parasol_val")) ;;
		--since)
			COMPREPLY=($(compgen -W "15m 1h 24h 7d 2w" -- "$_parasol_val")) ;;
		--pubkey)
			COMPREPLY=($(compgen -W "none" -- "$_parasol_val")) ;;
		esac
		return 0
	fi

	if [[ $_parasol_cur == -* ]]; then
		opts="--lists-db= --stats-db= --control= --json --help --version"
		case "$verb" in
		allow | deny) [[ $sub == add ]] && opts="$opts --exact --comment=" ;;
		feeds)
			[[ $sub == add ]] && opts="$opts --category= --format= --match= --pubkey= --allow-http --no-allow-http" ;;
		stats) opts="$opts --since=" ;;
		top)
			opts="$opts --since= --category= --limit="
			[[ $sub == domains ]] && opts="$opts --client=" ;;
		log) opts="$opts --client= --name= --category= --since= --limit= --follow" ;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$_parasol_cur"))
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		return 0
	fi

	case "${#words[@]}" in
	0)
		COMPREPLY=($(compgen -W "$("$cmd" --help 2>/dev/null |
		    sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p' |
		    sort -u)" -- "$_parasol_cur"))
		;;
	1)
		case "$verb" in
		allow | deny) COMPREPLY=($(compgen -W "add rm ls" -- "$_parasol_cur")) ;;
		feeds) COMPREPLY=($(compgen -W "add ls rm enable disable" -- "$_parasol_cur")) ;;
		top) COMPREPLY=($(compgen -W "clients domains" -- "$_parasol_cur")) ;;
		esac
		;;
	2)
		case "$verb $sub" in
		"feeds rm" | "feeds enable" | "feeds disable")
			COMPREPLY=($(compgen -W "$("$cmd" $db feeds ls --json 2>/dev/null |
			    grep -o '"id":"[^"]*"' | cut -d'"' -f4)" -- "$_parasol_cur")) ;;
		"allow rm" | "deny rm")
			COMPREPLY=($(compgen -W "$("$cmd" $db "$verb" ls --json 2>/dev/null |
			    grep -o '"name":"[^"]*"' | cut -d'"' -f4)" -- "$_parasol_cur")) ;;
		esac
		;;
	3)
		[[ "$verb $sub" == "feeds add" ]] && COMPREPLY=($(compgen -f -- "$_parasol_cur"))
		;;
	esac
	return 0
}
complete -F _parasol parasol
