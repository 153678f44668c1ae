package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// maxSampleScan bounds the events RecentEvents reads, so a poll costs
// milliseconds however large the store grows.
const maxSampleScan = 20_000

// RecentEvents returns up to limit events of type eventType as webhook
// envelopes, newest first: the samples a polling integration (Zapier, n8n,
// Make) shows before it subscribes. It reads the logs of the newest
// callbacks backwards, at most maxSampleScan events, so an event of a
// callback created long before the others may be missed. Each envelope
// carries the callback as it stands now, not as it stood at the event.
func (db *DB) RecentEvents(eventType string, limit int) ([]Envelope, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []Envelope
	err := db.view("recent "+eventType+" events", func(tx *bolt.Tx) error {
		needle := []byte(`"type":` + quote(eventType))
		var evs []*Event
		c := tx.Bucket(bktEvents).Cursor()
		scanned := 0
		for k, v := c.Last(); k != nil && scanned < maxSampleScan && len(evs) < limit; k, v = c.Prev() {
			scanned++
			if !bytes.Contains(v, needle) {
				continue
			}
			ev := new(Event)
			if err := json.Unmarshal(v, ev); err != nil {
				return fmt.Errorf("decode event %q: %w", k, err)
			}
			if ev.Type == eventType {
				evs = append(evs, ev)
			}
		}
		slices.SortFunc(evs, func(a, b *Event) int {
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
		})
		cbs := map[string]*Callback{}
		for _, ev := range evs {
			cb, ok := cbs[ev.CallbackID]
			if !ok {
				var err error
				if cb, err = loadCallback(tx, ev.CallbackID); err != nil {
					return err
				}
				cbs[ev.CallbackID] = cb
			}
			out = append(out, envelope(cb, ev, func(n int) *Attempt {
				a := new(Attempt)
				v := tx.Bucket(bktAttempts).Get(childKey(cb.ID, uint64(n)))
				if v == nil || json.Unmarshal(v, a) != nil {
					return nil
				}
				return a
			}))
		}
		return nil
	})
	return out, err
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
