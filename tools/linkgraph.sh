#!/bin/sh
# linkgraph.sh - the daemon's module dependency graph, from its objects.
#
#   tools/linkgraph.sh [BUILD_DIR]      (default: build)
#
# Reads `nm` of BUILD_DIR/daemon/*.o: module A depends on module B when
# A uses a symbol B defines.  Prints every edge ("A -> B"), then every
# cycle (strongly connected component of more than one module), one a
# line ("cycle: a b c").  With --expect "a b c" it exits 1 unless the
# cycles are exactly that one set (CI uses it to keep the core closed);
# sets of several cycles are separated by ";": --expect "a b c; d e".
set -eu
expect=
if [ "${1:-}" = --expect ]; then
	expect=$2
	shift 2
fi
dir=${1:-build}/daemon
ls "$dir"/*.o >/dev/null 2>&1 || {
	echo "linkgraph: no objects in $dir (build first)" >&2
	exit 2
}
for o in "$dir"/*.o; do
	m=$(basename "$o" .o)
	m=${m#libsluiced_a-}
	m=${m#sluiced-}
	nm "$o" | awk -v m="$m" '
		$1 == "U" { print "U", m, $2; next }
		NF == 3 && $2 ~ /^[TDBRGSVW]$/ { print "D", m, $3 }'
done | awk -v expect="$expect" '
	$1 == "D" { def[$3] = $2; next }
	{ use[++n] = $2 " " $3 }
	END {
		for (i = 1; i <= n; i++) {
			split(use[i], p, " ")
			to = def[p[2]]
			if (to == "" || to == p[1])
				continue
			e = p[1] " " to
			if (!(e in edge)) {
				edge[e] = 1
				adj[p[1]] = adj[p[1]] " " to
			}
			node[p[1]] = node[to] = 1
		}
		ne = 0
		for (e in edge)
			lines[++ne] = e
		# Sorted output: insertion sort is plenty for ~30 modules.
		for (i = 2; i <= ne; i++)
			for (j = i; j > 1 && lines[j-1] > lines[j]; j--) {
				t = lines[j]; lines[j] = lines[j-1]; lines[j-1] = t
			}
		for (i = 1; i <= ne; i++) {
			split(lines[i], p, " ")
			print p[1] " -> " p[2]
		}
		# Tarjan, iteratively over a sorted node list.
		nn = 0
		for (v in node)
			nodes[++nn] = v
		for (i = 2; i <= nn; i++)
			for (j = i; j > 1 && nodes[j-1] > nodes[j]; j--) {
				t = nodes[j]; nodes[j] = nodes[j-1]; nodes[j-1] = t
			}
		idx = 0; sp = 0; ncyc = 0
		for (i = 1; i <= nn; i++)
			if (!(nodes[i] in index_))
				strong(nodes[i])
		for (i = 1; i <= ncyc; i++)
			print "cycle: " cyc[i]
		if (expect != "") {
			nw = split(expect, sets, ";")
			for (i = 1; i <= nw; i++)
				want[i] = sorted_words(sets[i])
			# Compared as sets: the order of neither list means anything.
			bad = nw != ncyc
			for (i = 1; i <= nw && !bad; i++) {
				found = 0
				for (j = 1; j <= ncyc; j++)
					if (cyc[j] == want[i])
						found = 1
				bad = !found
			}
			if (bad) {
				msg = want[1]
				for (i = 2; i <= nw; i++)
					msg = msg "; " want[i]
				print "linkgraph: expected exactly these cycles: " msg > "/dev/stderr"
				exit 1
			}
		}
	}
	function sorted_words(str,    w, n, a, b, t, out) {
		n = split(str, w, " ")
		for (a = 2; a <= n; a++)
			for (b = a; b > 1 && w[b-1] > w[b]; b--) {
				t = w[b]; w[b] = w[b-1]; w[b-1] = t
			}
		out = ""
		for (a = 1; a <= n; a++)
			out = out (a > 1 ? " " : "") w[a]
		return out
	}
	function strong(v,    w, k, nb, list, comp, c, t, a, b) {
		index_[v] = low[v] = idx++
		stack[++sp] = v; onstack[v] = 1
		nb = split(adj[v], list, " ")
		for (k = 1; k <= nb; k++) {
			w = list[k]
			if (!(w in index_)) {
				strong(w)
				if (low[w] < low[v]) low[v] = low[w]
			} else if (onstack[w] && index_[w] < low[v])
				low[v] = index_[w]
		}
		if (low[v] == index_[v]) {
			c = 0
			do {
				w = stack[sp--]; onstack[w] = 0
				comp[++c] = w
			} while (w != v)
			if (c > 1) {
				for (a = 2; a <= c; a++)
					for (b = a; b > 1 && comp[b-1] > comp[b]; b--) {
						t = comp[b]; comp[b] = comp[b-1]; comp[b-1] = t
					}
				t = comp[1]
				for (a = 2; a <= c; a++) t = t " " comp[a]
				cyc[++ncyc] = t
			}
		}
	}'
