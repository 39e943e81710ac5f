package keyindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// fuzzKey makes a key from two bytes so that keys crowd: x picks one of 64 homes spread
// over the table (both ends included, so chains wrap), y tells apart keys that share
// a home, and the shard bits stay fixed.
func fuzzKey(x, y byte) Key {
	var k Key
	binary.LittleEndian.PutUint64(k[:8], uint64(x&63)<<58|uint64(y&7))
	binary.LittleEndian.PutUint32(k[8:12], uint32(y>>3)<<8)
	return k
}

// FuzzIndexOps runs a program of inserts, lookups, clock steps, sweeps and snapshot
// round trips against one index and a map, and checks they agree after every step.
// Each op is 4 bytes: opcode, x, y, argument.
func FuzzIndexOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 1, 1, 2, 0})
	f.Add([]byte{0, 63, 0, 5, 0, 63, 8, 0, 0, 0, 0, 0, 2, 0, 0, 30, 3, 0, 0, 0, 1, 63, 8, 0})
	f.Add([]byte{0, 10, 1, 0, 4, 0, 0, 0, 1, 10, 1, 0, 2, 0, 0, 200, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		c := newClock()
		const window = 60 * time.Second
		cfg := Config{Window: window, Now: c.Now, Shards: 1, BucketBits: 2}
		ix, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { ix.Close() }()
		model := map[Key]int64{} // accepted-at Unix second
		live := func(sec int64) bool { return sec >= c.Now().Unix()-60 }
		for len(prog) >= 4 {
			op, x, y, arg := prog[0]%5, prog[1], prog[2], prog[3]
			prog = prog[4:]
			k := fuzzKey(x, y)
			switch op {
			case 0: // insert, accepted arg seconds ago
				at := c.Now().Add(-time.Duration(arg) * time.Second)
				sec, had := model[k]
				added, err := ix.Insert(k, at)
				if err != nil {
					t.Fatal(err)
				}
				if want := !had || !live(sec); added != want {
					t.Fatalf("insert %x: added %v, want %v", k[:8], added, want)
				}
				model[k] = max(sec, at.Unix())
			case 1: // lookup
				sec, had := model[k]
				at, ok := ix.Lookup(k)
				if want := had && live(sec); ok != want || (ok && at.Unix() != sec) {
					t.Fatalf("lookup %x: %v %v, want %v at %d", k[:8], at.Unix(), ok, want, sec)
				}
			case 2: // clock
				c.Advance(time.Duration(arg) * time.Second)
			case 3: // sweep: afterwards the index holds exactly the live keys
				if _, err := ix.Sweep(); err != nil {
					t.Fatal(err)
				}
				for mk, sec := range model {
					if !live(sec) {
						delete(model, mk)
					}
				}
				if n := ix.Stats().Keys; n != len(model) {
					t.Fatalf("after sweep %d keys, model %d", n, len(model))
				}
			case 4: // snapshot round trip replaces the index
				var b bytes.Buffer
				if err := ix.WriteSnapshot(&b); err != nil {
					t.Fatal(err)
				}
				back, err := ReadSnapshot(&b, int64(b.Len()), cfg)
				if err != nil {
					t.Fatal(err)
				}
				ix.Close()
				ix = back
				for mk, sec := range model {
					if !live(sec) {
						delete(model, mk)
					}
				}
			}
		}
		for mk, sec := range model {
			if _, ok := ix.Lookup(mk); ok != live(sec) {
				t.Fatalf("final lookup %x: %v", mk[:8], ok)
			}
		}
	})
}

// FuzzReadSnapshot feeds arbitrary bytes to ReadSnapshot: it must refuse them with
// ErrCorrupt or build an index whose own snapshot reads back to the same index.
func FuzzReadSnapshot(f *testing.F) {
	c := newClock()
	cfg := Config{Window: 24 * time.Hour, Now: c.Now, Shards: 1, BucketBits: 1}
	for _, n := range []uint64{0, 1, 5} {
		ix, err := New(cfg)
		if err != nil {
			f.Fatal(err)
		}
		for i := range n {
			if _, err := ix.Apply(keyN(i), 10+i, c.Now()); err != nil {
				f.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := ix.WriteSnapshot(&b); err != nil {
			f.Fatal(err)
		}
		ix.Close()
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ReadSnapshot(bytes.NewReader(data), int64(len(data)), cfg)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		defer ix.Close()
		var b bytes.Buffer
		if err := ix.WriteSnapshot(&b); err != nil {
			t.Fatal(err)
		}
		back, err := ReadSnapshot(&b, int64(b.Len()), cfg)
		if err != nil {
			t.Fatalf("a snapshot of a read snapshot is refused: %v", err)
		}
		defer back.Close()
		if back.Stats().Keys != ix.Stats().Keys || back.Applied() != ix.Applied() {
			t.Fatalf("keys %d/%d applied %d/%d", back.Stats().Keys, ix.Stats().Keys, back.Applied(), ix.Applied())
		}
	})
}
