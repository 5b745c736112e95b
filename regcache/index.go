package regcache

// index is an interval index of cached entries: a treap ordered by start
// address. Entries in it never overlap (the cache merges or replaces
// overlapping registrations before inserting), so ordering by start also
// orders by end, and a lookup is "the entry with the greatest start <= the
// request's start; does it reach the request's end?". The tree links live in
// the entries themselves, so neither lookups nor inserts allocate.
type index struct {
	root *entry
	n    int
	rnd  uint64
}

func (x *index) len() int { return x.n }

// floor returns the entry with the greatest start <= addr, or nil.
func (x *index) floor(addr uintptr) *entry {
	var best *entry
	t := x.root
	for t != nil {
		if t.start <= addr {
			best = t
			t = t.right
		} else {
			t = t.left
		}
	}
	return best
}

func (x *index) prio() uint32 {
	// xorshift64*; the priorities only need to look random.
	x.rnd ^= x.rnd >> 12
	x.rnd ^= x.rnd << 25
	x.rnd ^= x.rnd >> 27
	return uint32((x.rnd * 2685821657736338717) >> 32)
}

// insert adds e, which must not overlap any entry in the index.
func (x *index) insert(e *entry) {
	if x.rnd == 0 {
		x.rnd = 0x9e3779b97f4a7c15
	}
	e.left, e.right = nil, nil
	e.prio = x.prio()
	x.root = tinsert(x.root, e)
	x.n++
}

func tinsert(t, e *entry) *entry {
	if t == nil {
		return e
	}
	if e.start < t.start {
		t.left = tinsert(t.left, e)
		if t.left.prio > t.prio {
			l := t.left
			t.left = l.right
			l.right = t
			return l
		}
	} else {
		t.right = tinsert(t.right, e)
		if t.right.prio > t.prio {
			r := t.right
			t.right = r.left
			r.left = t
			return r
		}
	}
	return t
}

// remove deletes e (which must be in the index).
func (x *index) remove(e *entry) {
	x.root = tremove(x.root, e)
	e.left, e.right = nil, nil
	x.n--
}

func tremove(t, e *entry) *entry {
	if t == nil {
		panic("regcache: index: removing an entry that is not in the index")
	}
	if t == e {
		return tmerge(t.left, t.right)
	}
	if e.start < t.start {
		t.left = tremove(t.left, e)
	} else {
		t.right = tremove(t.right, e)
	}
	return t
}

func tmerge(a, b *entry) *entry {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		a.right = tmerge(a.right, b)
		return a
	}
	b.left = tmerge(a, b.left)
	return b
}

// overlapping appends to out every entry that shares a byte with [a, b),
// in address order.
func (x *index) overlapping(a, b uintptr, out []*entry) []*entry {
	return toverlap(x.root, a, b, out)
}

func toverlap(t *entry, a, b uintptr, out []*entry) []*entry {
	if t == nil {
		return out
	}
	// Entries are disjoint and sorted, so ends are sorted too: the left
	// subtree can only overlap if t ends after a.
	if t.end > a {
		out = toverlap(t.left, a, b, out)
		if t.start < b {
			out = append(out, t)
		}
	}
	if t.start < b {
		out = toverlap(t.right, a, b, out)
	}
	return out
}

// each calls fn for every entry in address order (fn must not modify the
// index).
func (x *index) each(fn func(*entry)) { teach(x.root, fn) }

func teach(t *entry, fn func(*entry)) {
	if t == nil {
		return
	}
	teach(t.left, fn)
	fn(t)
	teach(t.right, fn)
}
