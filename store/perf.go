package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/tinysink/tinysink/internal/xsort"
	"github.com/tinysink/tinysink/store/sketch"
)

// Transactions are summarised, not stored one by one (tree families, see
// keys.go):
//
//	txday:<yyyymmdd>:<pid 6>:<name>    count, failures and a duration sketch
//	txname:<pid 6>:<name>              the last day the name was seen
//	txnamen:<pid 6>                    how many names txname holds
//	txex:<pid 6>:<name>\x00<slot>      one of ExamplesPerName recent examples
//
// A project has at most MaxTxNames names; the transactions of any other
// name count under OtherTxName, as Sentry does. A day's summary is a
// fixed-size sketch (store/sketch), so the space is bounded by days ×
// names whatever the traffic. RollUp drops days older than PerfKeepDays,
// and names (with their examples) not seen since.

const (
	// MaxTxNames bounds the transaction names of a project.
	MaxTxNames = 500
	// OtherTxName is the name counted for transactions past MaxTxNames.
	OtherTxName = "<other>"
	// ExamplesPerName is how many recent examples a name keeps.
	ExamplesPerName = 3
	// PerfKeepDays is how many days transaction summaries are kept.
	PerfKeepDays = SummaryKeepDays
	// maxTxNameLen bounds a stored name.
	maxTxNameLen = 200
)

func txDayKey(day string, pid int, name string) string {
	return "txday:" + day + ":" + fmt.Sprintf("%06d", pid) + ":" + name
}
func txNameKey(pid int, name string) string { return fmt.Sprintf("txname:%06d:", pid) + name }
func txNameCountKey(pid int) string         { return fmt.Sprintf("txnamen:%06d", pid) }
func txExampleKey(pid int, name string, slot uint64) string {
	return fmt.Sprintf("txex:%06d:", pid) + name + "\x00" + strconv.FormatUint(slot, 10)
}

// Transaction is one finished transaction (or segment span) to count.
type Transaction struct {
	Name       string
	At         time.Time // when it was received; its day is the summary's
	DurationMS float64
	Failed     bool       // its status is neither ok nor unknown
	Example    *TxExample // kept as one of the name's recent examples
}

// TxExample is a recent transaction with its span tree.
type TxExample struct {
	EventID     string    `json:"event_id,omitempty"`
	TraceID     string    `json:"trace_id,omitempty"`
	At          time.Time `json:"at"`
	DurationMS  float64   `json:"duration_ms"`
	Status      string    `json:"status,omitempty"`
	Op          string    `json:"op,omitempty"`
	Release     string    `json:"release,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Spans       []TxSpan  `json:"spans,omitempty"`
	// SpansDropped counts spans past the kept maximum.
	SpansDropped int `json:"spans_dropped,omitempty"`
}

// TxSpan is one span of an example, its start relative to the
// transaction's.
type TxSpan struct {
	ID          string  `json:"id"`
	Parent      string  `json:"parent,omitempty"`
	Op          string  `json:"op,omitempty"`
	Description string  `json:"description,omitempty"`
	Status      string  `json:"status,omitempty"`
	StartMS     float64 `json:"start_ms"`
	DurationMS  float64 `json:"duration_ms"`
	Depth       int     `json:"depth"`
}

// TxSummary is a transaction name's figures over some days.
type TxSummary struct {
	Name        string  `json:"name"`
	Count       uint64  `json:"count"`
	Failures    uint64  `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
	P50         float64 `json:"p50"`
	P95         float64 `json:"p95"`
	P99         float64 `json:"p99"`
}

// txDay is one txday value.
type txDay struct {
	count, failures uint64
	durations       *sketch.Sketch
}

func decodeTxDay(v string) (txDay, error) {
	b := []byte(v)
	c, n := binary.Uvarint(b)
	if n <= 0 {
		return txDay{}, sketch.ErrCorrupt
	}
	f, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return txDay{}, sketch.ErrCorrupt
	}
	s, err := sketch.Decode(b[n+m:])
	return txDay{count: c, failures: f, durations: s}, err
}

func (d txDay) encode() string {
	b := binary.AppendUvarint(nil, d.count)
	b = binary.AppendUvarint(b, d.failures)
	return string(d.durations.Encode(b))
}

// AddTransaction counts tr in project pid's summaries.
func (t *Tx) AddTransaction(pid int, tr *Transaction) error {
	name, err := t.txName(pid, tr.Name, dayString(tr.At))
	if err != nil {
		return err
	}
	key := txDayKey(dayString(tr.At), pid, name)
	d := txDay{durations: &sketch.Sketch{}}
	v, err := t.kv.Get(key)
	switch {
	case err == nil:
		if d, err = decodeTxDay(v); err != nil {
			d = txDay{durations: &sketch.Sketch{}} // start the day again rather than fail forever
		}
	case !errors.Is(err, buntdb.ErrNotFound):
		return err
	}
	d.count++
	if tr.Failed {
		d.failures++
	}
	d.durations.Add(tr.DurationMS)
	if _, _, err := t.kv.Set(key, d.encode(), nil); err != nil {
		return err
	}
	if tr.Example != nil {
		return setJSON(t.kv, txExampleKey(pid, name, d.count%ExamplesPerName), tr.Example)
	}
	return nil
}

// txName returns the name tr is counted under, registering it (or
// refreshing its last day) when it is one of the project's names.
func (t *Tx) txName(pid int, name, day string) (string, error) {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if len(name) > maxTxNameLen {
		name = strings.ToValidUTF8(name[:maxTxNameLen], "")
	}
	if name == "" {
		name = "<unnamed>"
	}
	last, err := t.kv.Get(txNameKey(pid, name))
	if err == nil {
		if last != day {
			_, _, err = t.kv.Set(txNameKey(pid, name), day, nil)
		}
		return name, err
	}
	if !errors.Is(err, buntdb.ErrNotFound) {
		return "", err
	}
	n := 0
	if s, err := t.kv.Get(txNameCountKey(pid)); err == nil {
		n, _ = strconv.Atoi(s)
	}
	if n >= MaxTxNames && name != OtherTxName {
		return t.txName(pid, OtherTxName, day)
	}
	if _, _, err := t.kv.Set(txNameKey(pid, name), day, nil); err != nil {
		return "", err
	}
	_, _, err = t.kv.Set(txNameCountKey(pid), strconv.Itoa(n+1), nil)
	return name, err
}

// Transactions returns project pid's transaction names with their figures
// over the UTC days from..to (both included), busiest first.
func (db *DB) Transactions(pid int, from, to time.Time) ([]TxSummary, error) {
	type acc struct {
		count, failures uint64
		s               sketch.Sketch
	}
	byName := map[string]*acc{} // at most MaxTxNames+1 entries
	pp := fmt.Sprintf(":%06d:", pid)
	err := db.view(func(tx *kvTx) error {
		for d := from.UTC().Truncate(24 * time.Hour); !d.After(to); d = d.AddDate(0, 0, 1) {
			prefix := "txday:" + dayString(d) + pp
			var bad error
			tx.ascend(prefix, func(k, v string) bool {
				td, err := decodeTxDay(v)
				if err != nil {
					bad = fmt.Errorf("store: %q: %w", k, err)
					return false
				}
				name := k[len(prefix):]
				a := byName[name]
				if a == nil {
					a = &acc{}
					byName[name] = a
				}
				a.count += td.count
				a.failures += td.failures
				a.s.Merge(td.durations)
				return true
			})
			if bad != nil {
				return bad
			}
		}
		return tx.t.Err()
	})
	if err != nil {
		return nil, err
	}
	out := make([]TxSummary, 0, len(byName))
	for name, a := range byName {
		s := TxSummary{Name: name, Count: a.count, Failures: a.failures,
			P50: a.s.Quantile(0.5), P95: a.s.Quantile(0.95), P99: a.s.Quantile(0.99)}
		if a.count > 0 {
			s.FailureRate = float64(a.failures) / float64(a.count)
		}
		out = append(out, s)
	}
	xsort.SortFunc(out, func(a, b TxSummary) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// TxExamples returns the recent examples kept for project pid's name,
// newest first.
func (db *DB) TxExamples(pid int, name string) ([]TxExample, error) {
	var out []TxExample
	err := db.view(func(tx *kvTx) error {
		for slot := range uint64(ExamplesPerName) {
			var ex TxExample
			err := getJSON(tx, txExampleKey(pid, name, slot), &ex)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, ex)
		}
		return nil
	})
	xsort.SortFunc(out, func(a, b TxExample) int { return b.At.Compare(a.At) })
	return out, err
}

// expireTxNames deletes the names (and their examples) not seen on or
// after beforeDay, at most rollUpChunk per transaction. It returns how
// many keys it deleted.
func (db *DB) expireTxNames(beforeDay string) (int, error) {
	total := 0
	for {
		n := 0
		err := db.update(func(tx *kvTx) error {
			var stale []string
			tx.ascend("txname:", func(k, v string) bool {
				if v < beforeDay {
					stale = append(stale, k)
				}
				return len(stale) < rollUpChunk
			})
			for _, k := range stale {
				rest := strings.TrimPrefix(k, "txname:")
				pidStr, name, _ := strings.Cut(rest, ":")
				pid, _ := strconv.Atoi(pidStr)
				if _, err := tx.Delete(k); err != nil {
					return err
				}
				for slot := range uint64(ExamplesPerName) {
					if _, err := tx.Delete(txExampleKey(pid, name, slot)); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
						return err
					}
				}
				c, _ := tx.Get(txNameCountKey(pid))
				cn, _ := strconv.Atoi(c)
				if _, _, err := tx.Set(txNameCountKey(pid), strconv.Itoa(max(cn-1, 0)), nil); err != nil {
					return err
				}
			}
			n = len(stale)
			return tx.t.Err()
		})
		total += n
		if err != nil || n < rollUpChunk {
			return total, err
		}
	}
}
