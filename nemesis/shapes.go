package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Partition shapes. Every shape is a set of cut client<->server links.
const (
	ShapeIsolate = "isolate" // one server cut from every client
	ShapeHalves  = "halves"  // clients and servers in two sides, cross links cut
	ShapeRing    = "ring"    // each client keeps a different majority of servers
	ShapeBridge  = "bridge"  // two halves, one server seen by both
	ShapeCuts    = "cuts"    // a random subset of client-server links
)

// Shapes lists the partition shapes; a partition fault picks one at random.
var Shapes = []string{ShapeIsolate, ShapeHalves, ShapeRing, ShapeBridge, ShapeCuts}

// cutPlan is a partition to apply: the links to cut and a description of
// its sides for the history.
type cutPlan struct {
	links []Link
	desc  string
}

// shuffled returns a sorted, deduplicated and then shuffled copy of names:
// sorting first makes the result independent of the order a backend lists
// names in.
func shuffled(rng *rand.Rand, names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	out = slices.Compact(out)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// split cuts names in two non-empty sides where possible, the larger side
// first or second at random.
func split(rng *rand.Rand, names []string) (a, b []string) {
	n := len(names)
	if n < 2 {
		return names, nil
	}
	k := n / 2
	if n%2 == 1 && rng.IntN(2) == 0 {
		k++
	}
	return names[:k], names[k:]
}

func set(names []string) string {
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(s, " ")
}

// cutAll cuts every link between clients and servers.
func cutAll(links []Link, clients, servers []string) []Link {
	for _, c := range clients {
		for _, s := range servers {
			links = append(links, Link{Client: c, Server: s})
		}
	}
	return links
}

// planPartition picks a shape at random and plans it. It returns an error
// saying why when no shape can cut anything.
func planPartition(rng *rand.Rand, clients, servers []string) (cutPlan, error) {
	if len(clients) == 0 || len(servers) == 0 {
		return cutPlan{}, fmt.Errorf("no links to cut (%d clients, %d servers)", len(clients), len(servers))
	}
	shape := Shapes[rng.IntN(len(Shapes))]
	// Ring and bridge need three servers; fall back to a shape that works.
	if len(servers) < 3 && (shape == ShapeRing || shape == ShapeBridge) {
		shape = ShapeIsolate
	}
	return planShape(rng, shape, clients, servers)
}

// planShape plans one partition shape.
func planShape(rng *rand.Rand, shape string, clients, servers []string) (cutPlan, error) {
	cs, ss := shuffled(rng, clients), shuffled(rng, servers)
	if len(cs) == 0 || len(ss) == 0 {
		return cutPlan{}, fmt.Errorf("no links to cut (%d clients, %d servers)", len(cs), len(ss))
	}
	switch shape {
	case ShapeIsolate:
		s := ss[0]
		return cutPlan{links: cutAll(nil, cs, []string{s}), desc: "isolate " + s}, nil
	case ShapeHalves:
		ca, cb := split(rng, cs)
		sa, sb := split(rng, ss)
		links := cutAll(cutAll(nil, ca, sb), cb, sa)
		return cutPlan{links: links, desc: fmt.Sprintf("halves {%s | %s} {%s | %s}", set(ca), set(sa), set(cb), set(sb))}, nil
	case ShapeRing:
		m := len(ss)
		if m < 3 {
			return cutPlan{}, fmt.Errorf("a majorities ring needs at least 3 servers, have %d", m)
		}
		maj := m/2 + 1
		var links []Link
		var parts []string
		for i, c := range cs {
			// Consecutive clients start their window one server further
			// round the ring, so up to m clients see m different majorities.
			var kept []string
			for j := 0; j < m; j++ {
				s := ss[(i+j)%m]
				if j < maj {
					kept = append(kept, s)
				} else {
					links = append(links, Link{Client: c, Server: s})
				}
			}
			parts = append(parts, fmt.Sprintf("%s:{%s}", c, set(kept)))
		}
		slices.Sort(parts)
		return cutPlan{links: links, desc: "ring " + strings.Join(parts, " ")}, nil
	case ShapeBridge:
		if len(ss) < 3 {
			return cutPlan{}, fmt.Errorf("a bridge needs at least 3 servers, have %d", len(ss))
		}
		b := ss[0]
		sa, sb := split(rng, ss[1:])
		ca, cb := split(rng, cs)
		links := cutAll(cutAll(nil, ca, sb), cb, sa)
		return cutPlan{links: links, desc: fmt.Sprintf("bridge %s {%s | %s} {%s | %s}", b, set(ca), set(sa), set(cb), set(sb))}, nil
	case ShapeCuts:
		links := randomLinks(rng, cs, ss)
		return cutPlan{links: links, desc: "cuts " + linkList(links)}, nil
	}
	return cutPlan{}, fmt.Errorf("unknown partition shape %q (known: %s)", shape, strings.Join(Shapes, ", "))
}

// randomLinks picks between one link and half of all links at random.
func randomLinks(rng *rand.Rand, clients, servers []string) []Link {
	all := cutAll(nil, shuffled(rng, clients), shuffled(rng, servers))
	if len(all) == 0 {
		return nil
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	n := 1 + rng.IntN(max(1, len(all)/2))
	return all[:n]
}

func linkList(links []Link) string {
	s := make([]string, len(links))
	for i, l := range links {
		s[i] = l.String()
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}
