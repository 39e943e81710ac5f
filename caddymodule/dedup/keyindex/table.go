package keyindex

import "math/bits"

// A table is one shard's open-addressing hash table with linear probing. Slot i is two
// words: words[2i] is the key's first 8 bytes, words[2i+1] is its next 4 bytes (high
// half) and the accepted-at second (low half). A second of 0 marks an empty slot, so
// real times are stored as at least 1. Deletion shifts later entries back instead of
// leaving tombstones, so probe chains never grow with churn.
//
// A table is not safe for concurrent use: its shard's lock guards it.
type table struct {
	words  []uint64
	slots  uint64
	n      int    // entries in use
	mapped int    // bytes the allocation really takes
	free   func() // releases words
}

// Sizing: grow when an insert would pass 3/4 full, by half again, so that a table that
// just grew is half full: 16 B a slot is 21–32 B a key.
const (
	maxLoadNum, maxLoadDen = 3, 4
	growNum, growDen       = 3, 2
	// minTableBytes is one page: smaller tables cost a page anyway.
	minTableBytes = 4096
)

// newTable allocates an empty table of at least slots slots; it uses every slot of the
// pages it maps.
func newTable(slots int) (*table, error) {
	slots = max(slots, minTableBytes/16)
	words, mapped, free, err := allocSlots(2 * slots)
	if err != nil {
		return nil, err
	}
	n := mapped / 16
	return &table{words: words[: 2*n : 2*n], slots: uint64(n), mapped: mapped, free: free}, nil
}

// release frees the slots; the table must not be used afterwards.
func (t *table) release() {
	if t.free != nil {
		t.free()
	}
	t.words, t.slots, t.n, t.free = nil, 0, 0, nil
}

// home is the slot a key's probe starts at: a multiply-shift range reduction, so the
// slot count need not be a power of two.
func (t *table) home(a uint64) uint64 {
	hi, _ := bits.Mul64(a, t.slots)
	return hi
}

func (t *table) next(i uint64) uint64 {
	if i++; i == t.slots {
		return 0
	}
	return i
}

// full reports whether one more entry would pass the load limit.
func (t *table) full() bool {
	return uint64(t.n+1)*maxLoadDen > t.slots*maxLoadNum
}

// find returns the slot holding the key, or ok false.
func (t *table) find(a uint64, fp uint32) (i uint64, ok bool) {
	for i = t.home(a); ; i = t.next(i) {
		w := t.words[2*i+1]
		if uint32(w) == 0 {
			return 0, false
		}
		if t.words[2*i] == a && uint32(w>>32) == fp {
			return i, true
		}
	}
}

// get returns the accepted-at second of the key, or ok false.
func (t *table) get(a uint64, fp uint32) (sec uint32, ok bool) {
	i, ok := t.find(a, fp)
	if !ok {
		return 0, false
	}
	return uint32(t.words[2*i+1]), true
}

// put stores the key with the later of its stored second and sec (sec ≥ 1), and
// returns the second it had before (found false when it was absent). The caller makes
// room first: put never grows the table.
func (t *table) put(a uint64, fp uint32, sec uint32) (prev uint32, found bool) {
	i := t.home(a)
	for ; ; i = t.next(i) {
		w := t.words[2*i+1]
		if uint32(w) == 0 {
			break
		}
		if t.words[2*i] == a && uint32(w>>32) == fp {
			prev = uint32(w)
			if sec > prev {
				t.words[2*i+1] = uint64(fp)<<32 | uint64(sec)
			}
			return prev, true
		}
	}
	t.words[2*i] = a
	t.words[2*i+1] = uint64(fp)<<32 | uint64(sec)
	t.n++
	return 0, false
}

// del empties slot i and shifts back the entries after it that probed past it, so that
// every entry stays reachable from its home without tombstones.
func (t *table) del(i uint64) {
	for j := t.next(i); ; j = t.next(j) {
		if uint32(t.words[2*j+1]) == 0 {
			break
		}
		h := t.home(t.words[2*j])
		// The entry at j may fill the hole at i unless its home lies cyclically in (i, j].
		var movable bool
		if i < j {
			movable = h <= i || h > j
		} else {
			movable = h <= i && h > j
		}
		if movable {
			t.words[2*i], t.words[2*i+1] = t.words[2*j], t.words[2*j+1]
			i = j
		}
	}
	t.words[2*i], t.words[2*i+1] = 0, 0
	t.n--
}

// sweep deletes every entry accepted before the second cutoff and returns how many.
// A deletion can shift a later entry into the slot just checked, so that slot is
// checked again; entries only ever move to slots not yet passed, or from slots already
// passed, so one pass sees every entry.
func (t *table) sweep(cutoff uint32) int {
	removed := 0
	for i := uint64(0); i < t.slots; {
		s := uint32(t.words[2*i+1])
		if s != 0 && s < cutoff {
			t.del(i)
			removed++
			continue
		}
		i++
	}
	return removed
}

// each calls fn for every entry.
func (t *table) each(fn func(a, w uint64)) {
	for i := uint64(0); i < t.slots; i++ {
		if w := t.words[2*i+1]; uint32(w) != 0 {
			fn(t.words[2*i], w)
		}
	}
}

// resized returns a new table of at least slots slots with t's entries accepted at or
// after cutoff. t is left as it was; the caller releases it.
func (t *table) resized(slots int, cutoff uint32) (*table, error) {
	// Never smaller than t's entries allow, or put could find no empty slot.
	nt, err := newTable(max(slots, t.n*maxLoadDen/maxLoadNum+1))
	if err != nil {
		return nil, err
	}
	t.each(func(a, w uint64) {
		if uint32(w) >= cutoff {
			nt.put(a, uint32(w>>32), uint32(w))
		}
	})
	return nt, nil
}
