# bash completion for sluice(1): commands, options, policies, and queue
# names asked of the server.
#
# The commands and options come from the installed sluice itself
# ("sluice --help", "sluice COMMAND --help"), so this file never lags
# behind the program.  Queue names come from "sluice stats --json" on
# the server the command line names (-H/-p/-a and their long forms, or
# $SLUICE_HOST and friends), with a one-second bound; when no server
# answers, no names are offered and nothing is printed.
#
# COMPREPLY=($(compgen ...)) is bash-completion's own idiom: the words
# it splits are options and queue names, which hold no blanks.
# shellcheck disable=SC2207

# The commands: the words under "Commands:" in sluice --help.
_sluice_commands()
{
	"$1" --help 2>/dev/null | awk '
		/^Commands:/ { on = 1; next }
		on && /^$/ { exit }
		on && /^  [a-z]/ { print $1 }'
}

# The options of a command (or the global ones): every -x and --long
# at the start of a line of its --help, after the usage lines.
_sluice_options()
{
	local prog=$1
	shift
	"$prog" "$@" --help 2>/dev/null | awk '
		/^ +-/ {
			for (i = 1; i <= NF; i++) {
				w = $i
				sub(/[,=].*$/, "", w)
				if (w ~ /^--?[A-Za-z]/)
					print w
				else
					break
			}
		}'
}

# The queues of the server, one per line; nothing when none answers.
_sluice_queues()
{
	local t=
	command -v timeout >/dev/null 2>&1 && t="timeout 1"
	$t "$@" stats --json 2>/dev/null </dev/null |
	    grep -o '"name": *"[^"]*"' | sed 's/^"name": *"//; s/"$//'
}

_sluice()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local prog=${words[0]} cmd='' i w
	local -a conn=("$prog")
	local commands
	commands=$(_sluice_commands "$prog")

	# Find the command; keep the connection options seen on the way
	# (before it, or after it: both are the server to ask).
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		-H | -p | -a | --host | --port | --auth | --cacert | --cert | --key)
			conn+=("$w" "${words[i + 1]}")
			((i++))
			continue
			;;
		--host=* | --port=* | --auth=* | --tls | --cacert=* | --cert=* | \
		    --key=*)
			conn+=("$w")
			continue
			;;
		-*) continue ;;
		esac
		if [[ -z $cmd ]] && grep -qx -- "$w" <<<"$commands"; then
			cmd=$w
		fi
	done

	# Arguments of options.
	case $prev in
	-H | --host)
		COMPREPLY=($(compgen -A hostname -- "$cur"))
		return
		;;
	--cacert | --cert | --key)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-p | --port | -a | --auth | -n | --count | -t | --timeout | -w | \
	    --window | -c | --capacity | -m | --max-bytes | -L | --lease-ms | \
	    -s | --size | -d | --duration | -C | --consumers | -R | \
	    --retry-delay | -D | --max-deliveries | --interval | \
	    --frames)
		# create's -d is a queue, below; bench's a duration.
		[[ $prev == -d && $cmd == create ]] || return
		;;&
	-d | --dead-letter)
		COMPREPLY=($(compgen -W "$(_sluice_queues "${conn[@]}")" \
		    -- "$cur"))
		return
		;;
	--policy)
		COMPREPLY=($(compgen -W "block reject drop-oldest drop-newest" \
		    -- "$cur"))
		return
		;;
	-P)
		# create: the policy; bench: a number of producers.
		[[ $cmd == create ]] && COMPREPLY=($(compgen -W \
		    "block reject drop-oldest drop-newest" -- "$cur"))
		return
		;;
	-q | --queue)
		COMPREPLY=($(compgen -W "$(_sluice_queues "${conn[@]}")" \
		    -- "$cur"))
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$(_sluice_options "$prog")" \
			    -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	# reserve QUEUE -- COMMAND: complete the command and its words.
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} == -- ]]; then
			if declare -F _command_offset >/dev/null; then
				_command_offset $((i + 1))
			else
				COMPREPLY=($(compgen -c -- "$cur"))
			fi
			return
		fi
	done

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_sluice_options "$prog" "$cmd")" \
		    -- "$cur"))
		return
	fi
	case $cmd in
	ping | bench | ack | nack | queues | top) ;;
	*)
		COMPREPLY=($(compgen -W "$(_sluice_queues "${conn[@]}")" \
		    -- "$cur"))
		;;
	esac
} &&
	complete -F _sluice sluice
