package media

import (
	"testing"
	"time"
)

func TestOutStreamNext(t *testing.T) {
	t.Parallel()
	const ms = int64(time.Millisecond)
	type in struct {
		src     uint64
		seq     uint16
		ts      uint32
		samples uint32
		at      int64
	}
	type out struct {
		dseq uint16 // sequence number minus the first packet's
		dts  uint32 // timestamp minus the first packet's
		mark bool
	}
	tests := []struct {
		name string
		in   []in
		want []out
	}{
		{
			name: "one source passes gaps and reordering through",
			in:   []in{{1, 100, 0, 160, 0}, {1, 101, 160, 160, 20 * ms}, {1, 103, 480, 160, 60 * ms}, {1, 102, 320, 160, 61 * ms}, {1, 104, 640, 160, 80 * ms}},
			want: []out{{0, 0, true}, {1, 160, false}, {3, 480, false}, {2, 320, false}, {4, 640, false}},
		},
		{
			name: "new source continues with marker and wall-clock timestamp",
			in:   []in{{1, 100, 0, 160, 0}, {1, 101, 160, 160, 20 * ms}, {2, 9000, 777, 160, 140 * ms}, {2, 9001, 937, 160, 160 * ms}},
			want: []out{{0, 0, true}, {1, 160, false}, {2, 160 + 960, true}, {3, 160 + 960 + 160, false}},
		},
		{
			name: "switch right away still advances one packet",
			in:   []in{{1, 5, 0, 240, 0}, {2, 50, 0, 160, 1 * ms}},
			want: []out{{0, 0, true}, {1, 240, true}},
		},
		{
			name: "telephone event keeps audio timestamp as the base",
			in:   []in{{1, 1, 1600, 160, 0}, {1, 2, 800, 0, 1 * ms}, {3, 1, 0, 160, 21 * ms}},
			want: []out{{0, 0, true}, {1, ^uint32(799), false}, {2, 168, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o outStream
			o.init()
			var seq0 uint16
			var ts0 uint32
			for i, p := range tt.in {
				seq, ts, mark := o.next(p.src, p.seq, p.ts, p.samples, 1+p.at)
				if i == 0 {
					seq0, ts0 = seq, ts
				}
				got := out{seq - seq0, ts - ts0, mark}
				if got != tt.want[i] {
					t.Errorf("packet %d: got %+v, want %+v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestOutStreamOwnership(t *testing.T) {
	t.Parallel()
	var o outStream
	if !o.acquirePlayer() {
		t.Fatal("player could not take a free stream")
	}
	if o.acquirePlayer() {
		t.Fatal("second player took the stream")
	}
	if o.relayMay() || !o.preempt.Load() {
		t.Fatal("relay did not ask the player to give way")
	}
	o.releasePlayer()
	if !o.relayMay() {
		t.Fatal("relay could not take the released stream")
	}
	if !o.relayMay() {
		t.Fatal("relay lost the stream on its second packet")
	}
	if o.acquirePlayer() {
		t.Fatal("player took the stream from the relay")
	}
	o.releaseRelay()
	if !o.acquirePlayer() || o.preempt.Load() {
		t.Fatal("player could not take the stream back")
	}
}
